"""CSV and XLSX files read as chunks of rows, the header's columns, every CSV value text.

A CSV row with more fields than the header cannot be read into its columns (most often a
value holding the delimiter without quotes, which shifts every field after it). pandas'
C parser, which reads clean files fast, fails the whole file on such a line. So a file is
read by it until the first chunk holding one; from that chunk on it is read by the csv
module, row by row and slower, and each overlong row is handed on with its surplus fields,
to be rejected with that reason while the rest imports. Both readers hand on a blank line
(or one of only spaces and tabs) as a row of missing values, so every row keeps the number
a spreadsheet shows it under, and fill a short row's missing fields as missing values, so
they cut a file into the same rows. Any other unreadable CSV (an unclosed quote, bytes that
are not UTF-8) fails the file.

Of a workbook only the first sheet is read; `unread_sheets` names the others holding data.
Its header is its first row that is not blank, and its columns are named as pandas names a
CSV's (a blank heading "Unnamed: 3", a repeated one "name.1").
"""

import csv
import itertools
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import openpyxl  # type: ignore[import-untyped]
import pandas as pd
from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

from crm_sync.connectors.base import SourceError

DELIMITERS = (",", ";", "\t", "|")
ENCODING = "utf-8-sig"  # a byte-order mark, as Excel writes, is not part of the first name
OVERLONG = " fields in line "  # in pandas' message for a row with more fields than the header
BLANK = " \t\r\n"  # what a blank line holds
# pandas' message for a quote the file ends inside; its row counts from 0, the header's
_UNCLOSED = re.compile(r"EOF inside string starting at row (\d+)")
XLSX = (".xlsx", ".xlsm")
# What openpyxl raises for a file that is not a workbook (a CSV renamed .xlsx) or a damaged
# one (a truncated download): a broken zip, a missing part, XML that does not parse.
NOT_A_WORKBOOK = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    ValueError,
    EOFError,
    zlib.error,
    SyntaxError,
)
SAVE_AS = 'save it as "CSV UTF-8" or as XLSX and import that'

# The csv module refuses a field over 128 KiB, a limit it keeps for the whole process;
# pandas' C parser, which reads a file up to its first overlong row, has none. Raised once,
# here, to the largest a C long holds on every platform, so both readers take the same rows.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows in the header's columns (NaN where empty), the row number of the first (as a
    spreadsheet shows it: the header is row 1, or the row after the blank lines above it),
    and the fields past the header of the rows that have more (by position in `frame`)."""

    frame: pd.DataFrame
    first_row: int
    surplus: dict[int, list[str]] = field(default_factory=dict)
    delimiter: str = ","


def read_chunks(path: Path, *, skip: int, chunk_rows: int) -> Iterator[Chunk]:
    """The file's rows after the first `skip`, `chunk_rows` at a time."""
    if path.suffix.lower() in XLSX:
        return _xlsx_chunks(path, skip=skip, chunk_rows=chunk_rows)
    return _csv_chunks(path, skip=skip, chunk_rows=chunk_rows)


def read_header(path: Path) -> list[str]:
    """The file's column names, as `read_chunks` names its frames' columns."""
    if path.suffix.lower() in XLSX:
        with _workbook(path) as workbook:
            header, _, _ = _first_sheet(workbook)
            return header
    try:
        delimiter, _ = _layout(path)
        columns = pd.read_csv(path, sep=delimiter, nrows=0, encoding=ENCODING).columns
    except pd.errors.EmptyDataError:
        raise SourceError(f"cannot read {path}: the file is empty") from None
    except UnicodeDecodeError:
        raise SourceError(f"cannot read {path}: {_not_utf8(path)}") from None
    except (OSError, pd.errors.ParserError) as error:
        raise SourceError(f"cannot read {path}: {_reason(error)}") from None
    return [str(column) for column in columns]


def unread_sheets(path: Path) -> list[str]:
    """The names of a workbook's sheets after the first that hold a value: `read_chunks`
    does not read them (none for a CSV)."""
    if path.suffix.lower() not in XLSX:
        return []
    with _workbook(path) as workbook:
        return [
            sheet.title
            for sheet in workbook.worksheets[1:]
            if any(value is not None for row in sheet.iter_rows(values_only=True) for value in row)
        ]


def count_rows(path: Path) -> int | None:
    """Data rows in the file, for progress: lines less the header, or what a sheet declares."""
    if path.suffix.lower() in XLSX:
        try:
            with _workbook(path) as workbook:
                rows = workbook.worksheets[0].max_row
        except SourceError:
            return None
        return None if rows is None else max(rows - 1, 0)
    newlines, size, last = 0, 0, b""
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            newlines += block.count(b"\n")
            size += len(block)
            last = block[-1:]
    lines = newlines + (1 if size and last != b"\n" else 0)
    return max(lines - 1, 0)


def _csv_chunks(path: Path, *, skip: int, chunk_rows: int) -> Iterator[Chunk]:
    try:
        delimiter, above = _layout(path)
        done = skip
        try:
            for frame in _fast_frames(
                path, delimiter=delimiter, above=above, skip=skip, chunk_rows=chunk_rows
            ):
                yield Chunk(_blank_lines_missing(frame), above + 2 + done, delimiter=delimiter)
                done += len(frame)
        except pd.errors.ParserError as error:
            if OVERLONG not in str(error):
                raise
            yield from _exact_chunks(
                path, delimiter=delimiter, above=above, skip=done, chunk_rows=chunk_rows
            )
    except pd.errors.EmptyDataError:
        raise SourceError(f"cannot read {path}: the file is empty") from None
    except UnicodeDecodeError:
        raise SourceError(f"cannot read {path}: {_not_utf8(path)}") from None
    except (OSError, pd.errors.ParserError) as error:
        raise SourceError(f"cannot read {path}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    reason = str(error).removeprefix("Error tokenizing data. C error: ").strip()
    return _UNCLOSED.sub(
        lambda found: f"a quote opened at row {int(found[1]) + 1} is never closed", reason
    )


def _not_utf8(path: Path) -> str:
    """Which line of the file first holds bytes that are not UTF-8, and what to do."""
    with path.open("rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return f"line {number} is not UTF-8 text; {SAVE_AS}"
    return f"not UTF-8 text; {SAVE_AS}"


def _layout(path: Path) -> tuple[str, int]:
    """The one of DELIMITERS the header line holds most of outside quoted names, and how
    many blank lines are above the header."""
    above = 0
    with path.open(encoding=ENCODING, newline="") as file:
        while (header := file.readline()) and not header.strip(BLANK):
            above += 1
    unquoted = "".join(header.split('"')[::2])  # what is outside double quotes
    return max(DELIMITERS, key=unquoted.count), above


def _fast_frames(
    path: Path, *, delimiter: str, above: int, skip: int, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """pandas' C parser: raises ParserError at the first row with too many fields."""
    skipped = [*range(above), *range(above + 1, above + 1 + skip)]
    reader = pd.read_csv(
        path,
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding=ENCODING,
        skip_blank_lines=False,
        skiprows=skipped or None,
        chunksize=chunk_rows,
    )
    with reader:
        yield from reader


def _exact_chunks(
    path: Path, *, delimiter: str, above: int, skip: int, chunk_rows: int
) -> Iterator[Chunk]:
    """The csv module, row by row, from the `skip`th row on: overlong rows are marked."""
    columns = list(pd.read_csv(path, sep=delimiter, nrows=0, encoding=ENCODING).columns)
    width = len(columns)
    with path.open(encoding=ENCODING, newline="") as file:
        rows = csv.reader(file, delimiter=delimiter)
        remaining = itertools.islice(rows, above + 1 + skip, None)  # from past the header
        first_row = above + 2 + skip
        try:
            while chunk := list(itertools.islice(remaining, chunk_rows)):
                surplus = {at: row[width:] for at, row in enumerate(chunk) if len(row) > width}
                fitted = [row[:width] + [""] * (width - len(row)) for row in chunk]
                frame = pd.DataFrame(fitted, columns=columns, dtype=str)
                frame = _blank_lines_missing(frame.mask(frame == ""))
                yield Chunk(frame, first_row, surplus, delimiter)
                first_row += len(chunk)
        except csv.Error as error:
            raise SourceError(f"cannot read {path}: line {rows.line_num}: {error}") from None


def _blank_lines_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the rows of lines holding only spaces and tabs as missing values, as
    those of blank lines are (the first field holds the spaces, the others are missing)."""
    if frame.empty or not len(frame.columns):
        return frame
    others_missing = frame.iloc[:, 1:].isna().all(axis=1)
    if not others_missing.any():  # nearly every chunk: no look at the first field's text
        return frame
    first = frame.loc[others_missing, frame.columns[0]]
    blank = first.index[first.str.strip(BLANK).eq("").fillna(False).to_numpy(dtype=bool)]
    if len(blank):
        frame = frame.copy()
        frame.loc[blank, frame.columns[0]] = np.nan
    return frame


def _xlsx_chunks(path: Path, *, skip: int, chunk_rows: int) -> Iterator[Chunk]:
    """The first sheet, from the row after its header; cells past the header's last column
    are not read (a sheet's cells cannot shift the way a CSV line's fields do)."""
    with _workbook(path) as workbook:
        header, above, rows = _first_sheet(workbook)
        width = len(header)
        rows = itertools.islice(rows, skip, None)
        first_row = above + 2 + skip
        while chunk := [_cells(row, width) for row in itertools.islice(rows, chunk_rows)]:
            yield Chunk(pd.DataFrame(chunk, columns=header, dtype=object), first_row)
            first_row += len(chunk)


@contextmanager
def _workbook(path: Path) -> Iterator[openpyxl.Workbook]:
    """The workbook, open while the block reads it; a file that is no workbook, or a damaged
    one, is a SourceError saying so, whenever reading finds it out."""
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            yield workbook
        finally:
            workbook.close()
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from None
    except NOT_A_WORKBOOK:
        raise SourceError(
            f"cannot read {path}: not an XLSX workbook, or a damaged one; {SAVE_AS}"
        ) from None


def _first_sheet(
    workbook: openpyxl.Workbook,
) -> tuple[list[str], int, Iterator[tuple[object, ...]]]:
    """The first sheet's header, how many blank rows are above it, and its rows after it.
    Blank rows above the header are passed over, as a CSV's blank lines above its header
    are, and count in the row numbers."""
    rows = workbook.worksheets[0].iter_rows(values_only=True)
    above = 0
    for row in rows:
        if any(not _blank(cell) for cell in row):
            return _header(row), above, rows
        above += 1
    return [], above, rows


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip(BLANK))


def _header(row: tuple[object, ...]) -> list[str]:
    """A sheet's column names, named as pandas names a CSV's: a blank heading is
    "Unnamed: <position>" and a repeated one "<name>.1" (".2", ... past a name the header
    holds already), so no two columns share a name and each can be read and reported."""
    names = [str(cell).strip() if cell is not None else "" for cell in row]
    names = [name or f"Unnamed: {at}" for at, name in enumerate(names)]
    taken, seen = set(names), set()
    header = []
    for name in names:
        unique = name
        if name in seen:
            unique = next(f"{name}.{n}" for n in itertools.count(1) if f"{name}.{n}" not in taken)
            taken.add(unique)
        seen.add(name)
        header.append(unique)
    return header


def _cells(row: tuple[object, ...], width: int) -> list[object]:
    """A sheet row as wide as the header. Spreadsheets store ids and phones as numbers:
    1001.0 means '1001'."""
    cells = [int(v) if isinstance(v, float) and v.is_integer() else v for v in row[:width]]
    return cells + [None] * (width - len(cells))
