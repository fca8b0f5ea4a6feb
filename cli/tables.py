"""Terminal tables: `FittedTable`, which fits whatever width it is printed at, and the
tables of what segbot knows that the command line and `segbot demo` share; `SafeConsole`,
the console the commands print on.

The promise: a header or a value is never cut. A plain rich Table wider than the terminal
squeezes every column, down to one letter and an ellipsis ("r… t… v…"). A `FittedTable`
decides at print time, from the console's width:

- every column is at least as wide as its longest word (header included), so cells wrap
  at spaces only; a word longer than `LONGEST_WORD` (a URL) folds onto the next line;
- columns that do not fit beside the others wrap: they go on in a further table below,
  which repeats the `key` columns (the ones that say what a row is) so each row can be
  read across;
- the width left over goes to the widest columns, as in a rich Table;
- the caption is a line under the last table, as wide as the console.

Stored text comes from subscribers (names, usernames, answers), CRMs and YAML files, and
may hold control characters: an ESC sequence clears the screen or sets the window title.
Printed, such a character is shown as an escape (`\\x1b`) instead: `visible()`, which
`SafeConsole`, the console every command and the demo print on, applies to all it prints,
tables included.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import (
    Console,
    ConsoleOptions,
    HighlighterType,
    JustifyMethod,
    OverflowMethod,
    RenderableType,
    RenderResult,
)
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Span, Text

if TYPE_CHECKING:  # the domain modules (and pandas) load only for the commands that use them
    import pandas as pd

    from crm_sync.reports import CrmStatus
    from segments.ladder import StageCount
    from segments.membership import MembershipRefresh

LONGEST_WORD = 24  # a longer word folds rather than widening its column past this
_CELL_PADDING = 2  # a space on each side of every cell
_BORDERS = 1  # a rule after every column, and one before the first
# C0 but tab and newline (a cell wraps at them), DEL and C1: what a terminal may act on
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """`text` with each control character shown as its escape: "\\x1b[2J", not a
    cleared screen."""
    return _CONTROL.sub(lambda control: f"\\x{ord(control[0]):02x}", text)


class SafeConsole(Console):
    """A rich Console on which printed text cannot control the terminal: the control
    characters of every string (markup too) and Text it renders show as `visible()` escapes.
    Strings are not read as markup unless a print asks (`markup=True`, with the data in it
    escaped): a rule's `tag:"[/]"` or a persona named `[bold]vip[/bold]` is data, printed
    as written, where markup would fail on the one and print the other as another name."""

    def __init__(self, *args: Any, markup: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, markup=markup, **kwargs)

    def render_str(
        self,
        text: str,
        *,
        style: str | Style = "",
        justify: JustifyMethod | None = None,
        overflow: OverflowMethod | None = None,
        emoji: bool | None = None,
        markup: bool | None = None,
        highlight: bool | None = None,
        highlighter: HighlighterType | None = None,
    ) -> Text:
        return super().render_str(
            visible(text),
            style=style,
            justify=justify,
            overflow=overflow,
            emoji=emoji,
            markup=markup,
            highlight=highlight,
            highlighter=highlighter,
        )

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        if isinstance(renderable, Text):
            renderable = _visible_text(renderable)
        return super().render(renderable, options)


def _visible_text(text: Text) -> Text:
    """`text` with `visible()` escapes, each style still on the characters it was on."""
    plain = text.plain
    if not _CONTROL.search(plain):
        return text
    starts = [0]  # where each character of `plain` begins in the escaped text
    for character in plain:
        starts.append(starts[-1] + len(visible(character)))
    shown = text.blank_copy(visible(plain))
    shown.spans = [
        Span(starts[span.start], starts[min(span.end, len(plain))], span.style)
        for span in text.spans
    ]
    return shown


@dataclass(slots=True)
class _Row:
    cells: tuple[RenderableType, ...]
    end_section: bool = False


class FittedTable:
    """A table with `headers`, printed as one rich Table when it fits the console, else as
    several, each repeating the first `key` columns. Rows go in as in a rich Table."""

    def __init__(
        self,
        *headers: str,
        key: int = 1,
        title: str | None = None,
        caption: str | None = None,
    ) -> None:
        if not headers:
            raise ValueError("a table needs at least one column")
        if not 1 <= key <= len(headers):
            raise ValueError(f"key must name 1 to {len(headers)} leading columns, not {key}")
        self.headers = headers
        self.key = key
        self.title = title
        self.caption = caption
        self._rows: list[_Row] = []

    def add_row(self, *cells: RenderableType) -> None:
        if len(cells) > len(self.headers):
            raise ValueError(f"{len(cells)} cells for {len(self.headers)} columns")
        self._rows.append(_Row((*cells, *[""] * (len(self.headers) - len(cells)))))

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def add_section(self) -> None:
        """A rule under the last row added (before a total, say)."""
        if self._rows:
            self._rows[-1].end_section = True

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        words, lines = self._measure(console, options)
        parts = _parts(words, self.key, options.max_width)
        for number, columns in enumerate(parts):
            room = options.max_width - _overhead(len(columns))
            widths = _widths([words[i] for i in columns], [lines[i] for i in columns], room)
            title = self.title if number == 0 or self.title is None else f"{self.title} (continued)"
            table = Table(title=title)
            for column, width in zip(columns, widths, strict=True):
                table.add_column(self.headers[column], width=width, overflow="fold")
            for row in self._rows:
                table.add_row(*(row.cells[i] for i in columns), end_section=row.end_section)
            yield table
        if self.caption is not None:
            yield Text(self.caption, style="table.caption")

    def _measure(self, console: Console, options: ConsoleOptions) -> tuple[list[int], list[int]]:
        """Per column: its longest word (at most LONGEST_WORD) and its longest line."""
        words, lines = [], []
        for index, header in enumerate(self.headers):
            cells = [header, *(row.cells[index] for row in self._rows)]
            measured = [Measurement.get(console, options, cell) for cell in cells]
            word = min(max(m.minimum for m in measured), LONGEST_WORD)
            words.append(max(word, 1))
            lines.append(max(word, *(m.maximum for m in measured)))
        return words, lines


def _overhead(columns: int) -> int:
    """What a rich Table adds to its columns' content: padding and borders."""
    return columns * (_CELL_PADDING + _BORDERS) + _BORDERS


def _parts(words: Sequence[int], key: int, width: int) -> list[list[int]]:
    """The columns of each table printed, in order: as many as fit beside the key columns
    at their longest word. A key that leaves no room for another column is the first
    column alone; a column too wide even beside it is printed anyway (its words fold)."""

    def fits(columns: list[int]) -> bool:
        return sum(words[i] for i in columns) + _overhead(len(columns)) <= width

    keys = list(range(key))
    if key < len(words) and not fits([*keys, key]):
        keys = [0]
    parts, current = [], keys.copy()
    for column in range(len(keys), len(words)):
        if len(current) > len(keys) and not fits([*current, column]):
            parts.append(current)
            current = [*keys]
        current.append(column)
    parts.append(current)
    return parts


def _widths(words: Sequence[int], lines: Sequence[int], room: int) -> list[int]:
    """Each column's width, between its longest word and its longest line, `room` in all:
    the widest columns are capped at one common width, and what is left goes to them."""
    if sum(lines) <= room:
        return list(lines)
    if sum(words) > room:  # too narrow for whole words: share the room, words fold
        return [max(1, room * word // sum(words)) for word in words]

    def capped(cap: int) -> list[int]:
        return [max(word, min(line, cap)) for word, line in zip(words, lines, strict=True)]

    low, high = 0, max(lines)
    while low < high:  # the widest cap that fits
        middle = (low + high + 1) // 2
        low, high = (middle, high) if sum(capped(middle)) <= room else (low, middle - 1)
    widths = capped(low)
    spare = room - sum(widths)
    for index, line in enumerate(lines):
        if spare > 0 and widths[index] < line:
            widths[index] += 1
            spare -= 1
    return widths


def crm_status_table(report: "CrmStatus") -> FittedTable:
    """Per CRM source: customers, orders, how many are matched and how, the last run."""
    table = FittedTable(
        "source", "customers", "orders", "matched", "by link/phone/email", "conflicts",
        "last run",
        caption=(
            f"subscribers matched to a customer: {report.matched_subscribers} of "
            f"{report.subscribers} ({report.subscriber_match_rate:.1%})"
        ),
    )  # fmt: skip
    for source in report.sources:
        run = source.last_run
        by = source.linked_by
        table.add_row(
            source.source,
            str(source.customers),
            str(source.orders),
            f"{source.linked} ({source.match_rate:.1%})",
            f"{by.get('deep_link', 0)}/{by.get('phone', 0)}/{by.get('email', 0)}",
            str(source.conflicts),
            "never" if run is None else f"#{run.id} {run.status} {run.started_at:%Y-%m-%d %H:%M}",
        )
    return table


def rfm_summary_table(scores: "pd.DataFrame", names: Sequence[str]) -> FittedTable:
    """Customers per RFM segment (every segment of the map, empty ones too) with means."""
    summary = scores.groupby("segment").agg(
        customers=("customer_id", "size"),
        recency_days=("recency_days", "mean"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
    )
    table = FittedTable(
        "segment", "customers", "share", "avg recency (days)", "avg orders", "avg spend"
    )
    rows: dict[str, dict[str, float]] = {
        str(segment): {str(k): float(v) for k, v in values.items()}
        for segment, values in summary.to_dict("index").items()
    }
    for name in names:
        if name not in rows:
            table.add_row(name, "0", "0%", "-", "-", "-")
            continue
        row = rows[name]
        table.add_row(
            name,
            f"{row['customers']:.0f}",
            f"{row['customers'] / len(scores):.0%}",
            f"{row['recency_days']:.0f}",
            f"{row['frequency']:.1f}",
            f"{row['monetary']:.2f}",
        )
    return table


def ladder_table(counts: "Sequence[StageCount]") -> FittedTable:
    table = FittedTable("stage", "", "subscribers", "buyers", key=2)
    for number, count in enumerate(counts):
        table.add_row(str(number), count.stage, str(count.subscribers), str(count.buyers))
    return table


def membership_table(outcomes: "Sequence[MembershipRefresh]") -> FittedTable:
    table = FittedTable("segment", "members", "entered", "left", "problem")
    for outcome in outcomes:
        table.add_row(
            outcome.segment,
            str(outcome.size),
            str(outcome.entered),
            str(outcome.left),
            outcome.error or "",
        )
    return table
