"""Telegram's HTML and MarkdownV2 parse modes as the emulator checks them."""

import pytest

from telegram_emulator.errors import ApiError
from telegram_emulator.html_markup import parse_html
from telegram_emulator.markdown_markup import parse_markdown_v2
from telegram_emulator.updates import command_entities


def test_html_becomes_plain_text_and_utf16_entities() -> None:
    formatted = parse_html('👋 <b>Hi</b> &amp; <a href="https://x.io/?a=1&amp;b=2">link</a>')

    assert formatted.text == "👋 Hi & link"
    assert formatted.entities == [
        {"type": "bold", "offset": 3, "length": 2},  # the emoji counts 2 UTF-16 units
        {"type": "text_link", "offset": 8, "length": 4, "url": "https://x.io/?a=1&b=2"},
    ]


def test_html_nested_pre_code_and_spoiler() -> None:
    source = (
        '<pre><code class="language-python">x = 1</code></pre><span class="tg-spoiler">s</span>'
    )

    formatted = parse_html(source)

    assert formatted.text == "x = 1s"
    assert formatted.entities == [
        {"type": "pre", "offset": 0, "length": 5, "language": "python"},
        {"type": "spoiler", "offset": 5, "length": 1},
    ]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("line<br>", 'Unsupported start tag "br" at byte offset 4'),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("1 <b", "Unclosed start tag at byte offset 2"),
    ],
)
def test_html_errors_read_like_telegrams(source: str, reason: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_html(source)

    assert caught.value.status == 400
    assert caught.value.description.startswith("Bad Request: can't parse entities: ")
    assert reason in caught.value.description


def test_markdown_v2_entities_and_escapes() -> None:
    formatted = parse_markdown_v2(r"*Sale* ends __today__\! [Shop](https://x.io/a\)b) `a\`b`")

    assert formatted.text == "Sale ends today! Shop a`b"
    assert formatted.entities == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "underline", "offset": 10, "length": 5},
        {"type": "text_link", "offset": 17, "length": 4, "url": "https://x.io/a)b"},
        {"type": "code", "offset": 22, "length": 3},
    ]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("Price: 10.99", "Character '.' is reserved"),
        ("Hi!", "Character '!' is reserved"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("`code", "Can't find end of Code entity"),
    ],
)
def test_markdown_v2_errors_read_like_telegrams(source: str, reason: str) -> None:
    with pytest.raises(ApiError, match="can't parse entities") as caught:
        parse_markdown_v2(source)

    assert reason in caught.value.description


def test_commands_anywhere_in_user_text() -> None:
    assert command_entities("/start@segbot_demo_bot ref and /help") == [
        {"type": "bot_command", "offset": 0, "length": 22},
        {"type": "bot_command", "offset": 31, "length": 5},
    ]
    assert command_entities("http://x.io/path") == []
