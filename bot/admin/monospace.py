"""Text for admin replies: Telegram HTML, with small tables in monospace that stay
readable on a phone (narrow columns, long cells cut with an ellipsis)."""

import re
from collections.abc import Sequence
from html import escape

from segments.rules.errors import excerpt

MAX_CELL = 22
_NUMBER = re.compile(r"^(-|[-+]?[\d,]+(\.\d+)?%?)$")
Cell = str | int | float | None


def cell(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return excerpt(value, MAX_CELL)


def table(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """A `<pre>` table; numbers right-aligned, text left-aligned."""
    texts = [[cell(value) for value in row] for row in rows]
    widths = [
        max([len(name), *(len(row[index]) for row in texts)]) for index, name in enumerate(header)
    ]
    numeric = [
        bool(texts) and all(_NUMBER.match(row[index]) for row in texts)
        for index in range(len(header))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    lines = [line(list(header)), "  ".join("─" * width for width in widths)]
    lines += [line(row) for row in texts]
    return f"<pre>{escape(chr(10).join(lines))}</pre>"


def code(text: str) -> str:
    return f"<code>{escape(text)}</code>"


def bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def percent(part: float, whole: float) -> str:
    return "-" if whole == 0 else f"{100 * part / whole:.1f}%"


MAX_MESSAGE = 4000  # Telegram takes 4096 characters; room for the markup
MAX_LINE = 500  # of plain text in a reply: a few lines of it fit in one message, escaped


def pieces(
    blocks: Sequence[str], *, limit: int = MAX_MESSAGE, separator: str = "\n\n"
) -> list[str]:
    """Blocks of a long reply (each a whole piece of HTML that fits in one message) packed
    into as few messages as fit, `separator` (a blank line) between."""
    messages: list[str] = []
    for block in blocks:
        if messages and len(messages[-1]) + len(separator) + len(block) <= limit:
            messages[-1] += separator + block
        else:
            messages.append(block)
    return messages


def fitting(text: str, *, limit: int = MAX_MESSAGE) -> str:
    """Plain `text` as HTML for one message: each line cut to MAX_LINE characters, then
    the whole, if it still does not fit."""
    text = "\n".join(excerpt(line, MAX_LINE) for line in text.split("\n"))
    shown = escape(text)
    while len(shown) > limit:  # cut in proportion: escaping may make text 6 times longer
        text = excerpt(text, len(text) * limit // len(shown))
        shown = escape(text)
    return shown
