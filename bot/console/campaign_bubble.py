"""A message's Telegram HTML as the page's HTML, for the preview's bubbles: the text the
subscriber will read, styled as the app styles it, and nothing else.

The markup has passed Telegram's own check (broadcasts.telegram_html: known tags only,
balanced, links http(s) or tg only). It is then rebuilt, never passed through: each text
run is escaped again, each tag becomes one of a fixed set of harmless elements, and the
only attribute kept is a link's address (escaped, opening outside the console). So a
subscriber's name or a template's output cannot put markup or script into the page.
"""

from html.parser import HTMLParser

from markupsafe import Markup, escape

from broadcasts.telegram_html import plain_text

# Telegram's tags, as the page shows them (a custom emoji shows its fallback emoji).
_ELEMENTS = {
    **dict.fromkeys(("b", "strong"), "b"),
    **dict.fromkeys(("i", "em"), "i"),
    **dict.fromkeys(("u", "ins"), "u"),
    **dict.fromkeys(("s", "strike", "del"), "s"),
    **dict.fromkeys(("tg-spoiler", "span"), "mark"),  # a spoiler: hidden until tapped
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "a",
    "tg-emoji": "",
}


def bubble_html(markup: str) -> Markup:
    """`markup` (Telegram HTML) as safe page HTML; TelegramHtmlError if Telegram would
    refuse it."""
    plain_text(markup)
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    return Markup("".join(builder.parts))  # noqa: S704 - every piece escaped above


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = _ELEMENTS.get(tag, "")
        self._open.append(element)
        if element == "a":
            href = escape(dict(attrs).get("href") or "")
            self.parts.append(f'<a href="{href}" target="_blank" rel="noopener noreferrer">')
        elif element:
            self.parts.append(f"<{element}>")

    def handle_endtag(self, tag: str) -> None:
        element = self._open.pop() if self._open else ""
        if element:
            self.parts.append(f"</{element}>")

    def handle_data(self, data: str) -> None:
        self.parts.append(str(escape(data)))
