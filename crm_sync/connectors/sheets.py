"""CSV and XLSX files read as chunks of rows, the header's columns, every CSV value text.

A CSV row with more fields than the header cannot be read into its columns (most often a
value holding the delimiter without quotes, which shifts every field after it). pandas'
C parser, which reads clean files fast, fails the whole file on such a line. So a file is
read by it until the first chunk holding one; from that chunk on it is read by the csv
module, row by row and slower, and each overlong row is handed on with its surplus fields,
to be rejected with that reason while the rest imports. Both readers skip blank lines and
fill a short row's missing fields as missing values, so they cut a file into the same rows.
Any other unreadable CSV (an unclosed quote, bytes that are not UTF-8) fails the file.
"""

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pandas as pd

from crm_sync.connectors.base import SourceError

DELIMITERS = (",", ";", "\t", "|")
ENCODING = "utf-8-sig"  # a byte-order mark, as Excel writes, is not part of the first name
OVERLONG = " fields in line "  # in pandas' message for a row with more fields than the header


@dataclass(frozen=True, slots=True)
class Chunk:
    """Rows in the header's columns (NaN where empty), and the fields past the header of
    the rows that have more (by position in `frame`)."""

    frame: pd.DataFrame
    surplus: dict[int, list[str]] = field(default_factory=dict)
    delimiter: str = ","


def read_chunks(path: Path, *, skip: int, chunk_rows: int) -> Iterator[Chunk]:
    """The file's rows after the first `skip`, `chunk_rows` at a time."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_chunks(path, skip=skip, chunk_rows=chunk_rows)
    return _csv_chunks(path, skip=skip, chunk_rows=chunk_rows)


def read_header(path: Path) -> list[str]:
    """The file's column names, as `read_chunks` names its frames' columns."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        workbook = _workbook(path)
        try:
            return _header(next(workbook.worksheets[0].iter_rows(values_only=True), ()))
        finally:
            workbook.close()
    try:
        delimiter = _delimiter(path)
        columns = pd.read_csv(path, sep=delimiter, nrows=0, encoding=ENCODING).columns
    except pd.errors.EmptyDataError:
        raise SourceError(f"cannot read {path}: the file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise SourceError(f"cannot read {path}: {_reason(error)}") from None
    return [str(column) for column in columns]


def count_rows(path: Path) -> int | None:
    """Data rows in the file, for progress: lines less the header, or what a sheet declares."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            workbook = openpyxl.load_workbook(path, read_only=True)
        except (OSError, KeyError, ValueError):
            return None
        try:
            rows = workbook.worksheets[0].max_row
        finally:
            workbook.close()
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
        delimiter = _delimiter(path)
        done = skip
        try:
            for frame in _fast_frames(path, delimiter=delimiter, skip=skip, chunk_rows=chunk_rows):
                yield Chunk(frame, delimiter=delimiter)
                done += len(frame)
        except pd.errors.ParserError as error:
            if OVERLONG not in str(error):
                raise
            yield from _exact_chunks(path, delimiter=delimiter, skip=done, chunk_rows=chunk_rows)
    except pd.errors.EmptyDataError:
        raise SourceError(f"cannot read {path}: the file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise SourceError(f"cannot read {path}: {_reason(error)}") from None


def _reason(error: Exception) -> str:
    return str(error).removeprefix("Error tokenizing data. C error: ").strip()


def _delimiter(path: Path) -> str:
    """The one of DELIMITERS the header line holds most of."""
    with path.open(encoding=ENCODING, newline="") as file:
        header = file.readline()
    return max(DELIMITERS, key=header.count)


def _fast_frames(
    path: Path, *, delimiter: str, skip: int, chunk_rows: int
) -> Iterator[pd.DataFrame]:
    """pandas' C parser: raises ParserError at the first row with too many fields."""
    reader = pd.read_csv(
        path,
        sep=delimiter,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        encoding=ENCODING,
        skiprows=range(1, skip + 1) if skip else None,
        chunksize=chunk_rows,
    )
    with reader:
        yield from reader


def _exact_chunks(path: Path, *, delimiter: str, skip: int, chunk_rows: int) -> Iterator[Chunk]:
    """The csv module, row by row, from the `skip`th row on: overlong rows are marked."""
    columns = list(pd.read_csv(path, sep=delimiter, nrows=0, encoding=ENCODING).columns)
    width = len(columns)
    with path.open(encoding=ENCODING, newline="") as file:
        rows = csv.reader(file, delimiter=delimiter)
        next(rows, None)  # the header
        filled = (row for row in rows if len(row) > 1 or (row and row[0].strip(" \t")))
        remaining = itertools.islice(filled, skip, None)
        try:
            while chunk := list(itertools.islice(remaining, chunk_rows)):
                surplus = {at: row[width:] for at, row in enumerate(chunk) if len(row) > width}
                fitted = [row[:width] + [""] * (width - len(row)) for row in chunk]
                frame = pd.DataFrame(fitted, columns=columns, dtype=str)
                yield Chunk(frame.mask(frame == ""), surplus, delimiter)
        except csv.Error as error:
            raise SourceError(f"cannot read {path}: line {rows.line_num}: {error}") from None


def _xlsx_chunks(path: Path, *, skip: int, chunk_rows: int) -> Iterator[Chunk]:
    """The first sheet; cells past the header's last column are not read (a sheet's cells
    cannot shift the way a CSV line's fields do)."""
    workbook = _workbook(path)
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = _header(next(rows, ()))
        width = len(header)
        rows = itertools.islice(rows, skip, None)
        while chunk := [_cells(row, width) for row in itertools.islice(rows, chunk_rows)]:
            yield Chunk(pd.DataFrame(chunk, columns=header, dtype=object))
    finally:
        workbook.close()


def _workbook(path: Path) -> openpyxl.Workbook:
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError) as error:
        raise SourceError(f"cannot read {path}: {error}") from None


def _header(row: tuple[object, ...]) -> list[str]:
    return [str(cell).strip() if cell is not None else "" for cell in row]


def _cells(row: tuple[object, ...], width: int) -> list[object]:
    """A sheet row as wide as the header. Spreadsheets store ids and phones as numbers:
    1001.0 means '1001'."""
    cells = [int(v) if isinstance(v, float) and v.is_integer() else v for v in row[:width]]
    return cells + [None] * (width - len(cells))
