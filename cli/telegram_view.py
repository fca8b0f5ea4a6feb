"""A Telegram message drawn in a terminal, the way the Telegram app shows it.

The markup is first checked as Telegram checks it (`broadcasts.telegram_html`): what
Telegram would refuse is refused here too, never drawn as if it would arrive. Then:
bold, italic, underline and strikethrough are styles; a spoiler is reversed (the
subscriber taps to reveal it); a link is its text, underlined, with the URL after it;
code is coloured, a pre block sits on lines of its own under its language's name; a quote
runs behind a bar; a custom emoji is its fallback emoji. The message sits in a bubble,
its media named on top (a local file by its name), and its buttons beneath it in their
rows, each saying what it does (a link with its URL, a copy button what it copies, a Mini
App its URL). Under it, dimmed, how it shows: the link preview, an effect, protection.
"""

from html.parser import HTMLParser
from pathlib import Path

from rich import box
from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.style import Style
from rich.text import Text

from broadcasts.message_spec import EFFECTS
from broadcasts.messenger import Button, Media, OutgoingMessage
from broadcasts.telegram_html import plain_text

BUBBLE_WIDTH = 60  # about as many characters as a phone shows on a line
QUOTE_BAR = "▍ "
BOLD = Style(bold=True)
ITALIC = Style(italic=True)
UNDERLINE = Style(underline=True)
STRIKE = Style(strike=True)
SPOILER = Style(reverse=True)
CODE = Style(color="cyan")
LINK = Style(color="blue", underline=True)
QUOTE = Style(color="blue")  # the bar a quote runs behind
NOTE = Style(dim=True)  # what segbot adds to explain: URLs, a code block's language
_STYLES = {
    **dict.fromkeys(("b", "strong"), BOLD),
    **dict.fromkeys(("i", "em"), ITALIC),
    **dict.fromkeys(("u", "ins"), UNDERLINE),
    **dict.fromkeys(("s", "strike", "del"), STRIKE),
    **dict.fromkeys(("tg-spoiler", "span"), SPOILER),  # Telegram allows span only for spoilers
    **dict.fromkeys(("code", "pre"), CODE),
}
_BLOCKS = ("pre", "blockquote")  # each on lines of its own


def telegram_text(markup: str) -> Text:
    """`markup` (Telegram HTML) styled as the app shows it; TelegramHtmlError if Telegram
    would refuse it."""
    plain_text(markup)
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    return reader.text


def message_view(message: OutgoingMessage, *, width: int = BUBBLE_WIDTH) -> Group:
    """The message in a bubble with its media named on top, its buttons beneath in rows,
    how it shows under them; TelegramHtmlError if Telegram would refuse its markup."""
    body = telegram_text(message.text)
    if message.media:
        media = Text("\n").join(_media(item) for item in message.media)
        if message.is_album:
            media = Text.assemble((f"album of {len(message.media)}:\n", BOLD), media)
        body = Text("\n").join((media, body)) if body.plain else media
    bubble = Panel(body, box=box.ROUNDED, width=width)
    rows = [_row(row, width) for row in message.keyboard]
    notes = _notes(message)
    return Group(bubble, *rows, *([Text(notes, NOTE)] if notes else []))


def _media(item: Media) -> Text:
    shown = Path(item.ref).name if item.local else item.ref
    return Text.assemble((f"[{item.kind.value}] ", BOLD), (shown, NOTE))


def _row(row: tuple[Button, ...], width: int) -> RenderableType:
    if len(row) == 1:
        return _button(row[0], width)
    share = width // len(row)
    return Columns([_button(button, share) for button in row], padding=0, width=share)


def _button(button: Button, width: int) -> Panel:
    label = Text(button.text, style=BOLD, justify="center")
    if button.url is not None:
        label.append(" ↗")
        label.append(f"\n{button.url}", NOTE)
    elif button.copy_text is not None:
        label.append(f"\ncopies {button.copy_text}", NOTE)
    elif button.web_app is not None:
        label.append(f"\nMini App {button.web_app}", NOTE)
    return Panel(label, box=box.ROUNDED, width=width)


def _notes(message: OutgoingMessage) -> str:
    """How the message shows, beyond its bubble."""
    notes = []
    preview = message.link_preview
    if preview is not None and preview.disabled:
        notes.append("no link preview")
    elif preview is not None:
        where = "above" if preview.above else "below"
        of = f" of {preview.url}" if preview.url else ""
        size = f", {preview.size} media" if preview.size else ""
        notes.append(f"link preview{of} {where} the text{size}")
    if message.effect_id is not None:
        names = {effect_id: name for name, effect_id in EFFECTS.items()}
        notes.append(f"effect: {names.get(message.effect_id, message.effect_id)}")
    if message.protect_content:
        notes.append("protected: no forwarding or saving")
    return "; ".join(notes)


class _Reader(HTMLParser):
    """Builds the styled text from markup `plain_text` has checked: tags balanced, each
    one Telegram knows, entities decoded by the parser."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = Text()
        self._open: list[tuple[str, int, dict[str, str]]] = []  # tag, where it began, attrs
        self._quotes = 0
        self._block_ended = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in _BLOCKS:
            self._line_start()
        if tag == "blockquote":
            self._quotes += 1
            self.text.append(QUOTE_BAR, QUOTE)
        language = attributes.get("class", "").removeprefix("language-")
        if tag == "code" and self._open and self._open[-1][0] == "pre" and language:
            self.text.append(f"{language}\n", NOTE)
        self._open.append((tag, len(self.text), attributes))

    def handle_endtag(self, tag: str) -> None:
        name, start, attributes = self._open.pop()
        style = _STYLES.get(name)
        if style is not None:
            self.text.stylize(style, start, len(self.text))
        if name == "a":
            self._link(start, attributes.get("href", ""))
        if name == "blockquote":
            self._quotes -= 1
        self._block_ended = name in _BLOCKS

    def handle_data(self, data: str) -> None:
        if self._block_ended and not data.startswith("\n"):
            self.text.append("\n")
        self._block_ended = False
        lines = data.split("\n")
        self.text.append(lines[0])
        for line in lines[1:]:
            self.text.append("\n")
            if self._quotes:
                self.text.append(QUOTE_BAR, QUOTE)
            self.text.append(line)

    def _line_start(self) -> None:
        if self.text.plain and not self.text.plain.endswith("\n"):
            self.text.append("\n")

    def _link(self, start: int, href: str) -> None:
        self.text.stylize(LINK + Style(link=href), start, len(self.text))
        if self.text.plain[start:].strip() != href:
            self.text.append(f" ({href})", NOTE)
