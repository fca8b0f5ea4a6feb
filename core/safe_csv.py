"""CSV that is safe to open in a spreadsheet: every CSV segbot writes goes through here.

Excel, LibreOffice and Google Sheets take a cell that begins with `=`, `+`, `-` or `@` for
a formula, and a tab or carriage return in front of one does not stop them. A CRM name
like `=HYPERLINK("http://evil.example","Refund")` would then run on the marketer's machine
when they open a report (CSV injection). So, as OWASP advises, a text cell that begins
with one of those characters is written with a single quote in front, which a spreadsheet
shows as text. Numbers are written as numbers: an `int`, `float` or `Decimal` (a negative
amount is a number, not a formula) goes out as it is; text that only looks like a number
is text. Callers hand numbers over as numbers, `Decimal` when the digits matter.

Lines end in CRLF (RFC 4180), which also makes the writer quote a cell holding a carriage
return: unquoted, it would end the row there and start the next one with the rest of the
cell, formula and all.
"""

import csv
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
LINE_END = "\r\n"
# numpy's kinds of the columns that hold numbers (bool, int, unsigned, float, complex)
# or times; their cells cannot begin a formula.
_NOT_TEXT_KINDS = frozenset("biufcmM")

Cell = str | int | float | Decimal | None


def safe_cell(value: Cell) -> str | int | float | Decimal:
    """The value as a spreadsheet must get it: text that would start a formula quoted,
    numbers as they are, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return QUOTE + value
    return value


class SafeCsvWriter:
    """`csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, out: TextIO) -> None:
        self._writer = csv.writer(out, lineterminator=LINE_END)

    def writerow(self, row: Iterable[Cell]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        for row in rows:
            self.writerow(row)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Iterable[Cell]]) -> None:
    """A CSV file (UTF-8): the header line, then the rows."""
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = SafeCsvWriter(file)
        writer.writerow(header)
        writer.writerows(rows)


def write_frame(frame: "pd.DataFrame", path: Path) -> None:
    """A frame as a CSV file (header, no index), its text columns made safe vectorised:
    a large frame is never walked row by row."""
    safe = frame.copy()
    for name in safe.columns:
        if safe[name].dtype.kind in _NOT_TEXT_KINDS:
            continue
        text = safe[name].astype("string")
        starts_formula = text.str.startswith(FORMULA_STARTS).fillna(value=False)
        safe[name] = text.mask(starts_formula.astype(bool), QUOTE + text)
    safe.to_csv(path, index=False, lineterminator=LINE_END)
