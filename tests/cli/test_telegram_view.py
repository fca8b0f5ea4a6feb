"""The terminal renderer: Telegram HTML drawn as the app shows it, never as raw tags."""

import pytest
from rich.console import Console
from rich.style import Style
from rich.text import Text

from broadcasts.messenger import Button, LinkPreview, Media, MediaKind, OutgoingMessage
from broadcasts.telegram_html import TelegramHtmlError
from cli.telegram_view import (
    BOLD,
    CODE,
    ITALIC,
    NOTE,
    SPOILER,
    STRIKE,
    UNDERLINE,
    message_view,
    telegram_text,
)


def styled(text: Text, style: Style) -> list[str]:
    """The pieces of `text` that carry `style` (alone or combined with others)."""
    return [text.plain[span.start : span.end] for span in text.spans if style == span.style]


def screen(message: OutgoingMessage) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(message_view(message))
    return console.export_text()


def test_styles_replace_the_tags() -> None:
    text = telegram_text(
        "<b>Sale</b> <strong>now</strong>, <i>only</i> <em>today</em>: <u>all</u> <ins>of</ins> "
        "<s>50</s> <del>40</del> <strike>30</strike> &lt;3 &amp; "
        '<tg-spoiler>a gift</tg-spoiler> <span class="tg-spoiler">inside</span>'
    )
    assert text.plain == "Sale now, only today: all of 50 40 30 <3 & a gift inside"
    assert styled(text, BOLD) == ["Sale", "now"]
    assert styled(text, ITALIC) == ["only", "today"]
    assert styled(text, UNDERLINE) == ["all", "of"]
    assert styled(text, STRIKE) == ["50", "40", "30"]
    assert styled(text, SPOILER) == ["a gift", "inside"]


def test_a_link_is_its_text_then_its_url() -> None:
    text = telegram_text(
        'See <a href="https://shop.example/sale?a=1&amp;b=2">the sale</a> and '
        '<a href="https://shop.example/">https://shop.example/</a>.'
    )
    assert text.plain == (
        "See the sale (https://shop.example/sale?a=1&b=2) and https://shop.example/."
    )
    links = [span for span in text.spans if isinstance(span.style, Style) and span.style.link]
    assert [text.plain[span.start : span.end] for span in links] == [
        "the sale",
        "https://shop.example/",
    ]
    assert links[0].style == Style(
        color="blue", underline=True, link="https://shop.example/sale?a=1&b=2"
    )
    assert styled(text, NOTE) == [" (https://shop.example/sale?a=1&b=2)"]


def test_code_blocks_and_quotes_sit_on_lines_of_their_own() -> None:
    text = telegram_text(
        "Use <code>SPRING10</code>:"
        '<pre><code class="language-python">print("hi")\nprint("bye")</code></pre>'
        "then<blockquote>first line\nsecond line</blockquote>done"
    )
    assert text.plain.splitlines() == [
        "Use SPRING10:",
        "python",
        'print("hi")',
        'print("bye")',
        "then",
        "▍ first line",
        "▍ second line",
        "done",
    ]
    assert 'print("hi")\nprint("bye")' in styled(text, CODE)
    assert "SPRING10" in styled(text, CODE)


@pytest.mark.parametrize(
    ("markup", "reason"),
    [
        ("Hi <b>there", "<b> is never closed"),
        ("<div>Hi</div>", "does not support the tag <div>"),
        ("1 < 2", "a bare < or >"),
    ],
)
def test_markup_telegram_would_refuse_is_refused(markup: str, reason: str) -> None:
    with pytest.raises(TelegramHtmlError, match=reason):
        telegram_text(markup)


def test_the_bubble_has_the_photo_on_top_and_the_buttons_beneath() -> None:
    message = OutgoingMessage(
        chat_id=1,
        text="<b>Spring</b> is here",
        media=(Media(MediaKind.PHOTO, "https://shop.example/spring.jpg"),),
        keyboard=(
            (Button("Shop now", url="https://shop.example/spring"),),
            (Button("Unsubscribe", data="unsubscribe"),),
        ),
    )
    lines = [line.strip(" │╭╮╰╯─") for line in screen(message).splitlines()]
    shown = [line for line in lines if line]
    assert shown == [
        "[photo] https://shop.example/spring.jpg",
        "Spring is here",
        "Shop now ↗",
        "https://shop.example/spring",
        "Unsubscribe",
    ]
    assert "<b>" not in screen(message)


def test_buttons_share_a_row_and_say_what_they_do() -> None:
    message = OutgoingMessage(
        chat_id=1,
        text="Codes inside",
        keyboard=(
            (Button("Copy", copy_text="SPRING10"), Button("Open", web_app="https://app.example")),
            (Button("Unsubscribe", data="unsubscribe"),),
        ),
    )
    lines = screen(message).splitlines()
    [both] = [line for line in lines if "Copy" in line]
    assert "Open" in both  # one row, side by side
    assert any("copies SPRING10" in line for line in lines)
    [app] = [line for line in lines if "Mini App" in line]
    assert "https://app.example" in lines[lines.index(app) + 1]


def test_an_album_names_its_files_and_how_it_shows() -> None:
    message = OutgoingMessage(
        chat_id=1,
        text=(
            "Two <tg-spoiler>secrets</tg-spoiler> "
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>'
        ),
        media=(
            Media(MediaKind.PHOTO, "/home/shop/summer.jpg", local=True, sha256="0" * 64),
            Media(MediaKind.VIDEO, "BAACAgIAAxkBAAIB"),
        ),
        protect_content=True,
        effect_id="5104841245755180586",
    )
    shown = screen(message)
    assert "album of 2:" in shown
    assert "[photo] summer.jpg" in shown  # a local file by its name, never its path
    assert "/home/shop" not in shown
    assert "[video] BAACAgIAAxkBAAIB" in shown
    assert "Two secrets 👍" in shown
    assert "effect: fire; protected: no forwarding or saving" in shown


@pytest.mark.parametrize(
    ("preview", "note"),
    [
        (LinkPreview(disabled=True), "no link preview"),
        (
            LinkPreview(url="https://shop.example/", above=True, size="large"),
            "link preview of https://shop.example/ above the text, large media",
        ),
    ],
)
def test_the_link_preview_is_said_beneath(preview: LinkPreview, note: str) -> None:
    message = OutgoingMessage(chat_id=1, text="See https://shop.example/", link_preview=preview)
    assert note in " ".join(screen(message).split())
