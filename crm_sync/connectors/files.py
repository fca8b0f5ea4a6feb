"""CSV and XLSX exports of customers and orders, read in chunks so memory stays bounded.

The cursor remembers the file (size and modification time) and how many rows are stored:
an interrupted import resumes after the last stored row, an unchanged file is not read
again, and a changed file is read from the top (stored rows come back unchanged).
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import numpy as np
import openpyxl  # type: ignore[import-untyped]
import pandas as pd

from crm_sync.config import ColumnMapping, RecordRules
from crm_sync.connectors.base import Batch, Cursor, SourceError, validate
from crm_sync.connectors.columns import resolve_columns
from crm_sync.records import Stream

FIRST_DATA_ROW = 2  # row 1 is the header, as a spreadsheet numbers them
DELIMITERS = (",", ";", "\t", "|")


class FilesConnector:
    def __init__(
        self,
        *,
        name: str,
        customers: Path | None,
        orders: Path | None,
        rules: RecordRules,
        mapping: ColumnMapping | None = None,
        chunk_rows: int = 100_000,
    ) -> None:
        self._name = name
        self._paths: dict[Stream, Path] = {}
        if customers is not None:
            self._paths["customers"] = customers
        if orders is not None:
            self._paths["orders"] = orders
        self._rules = rules
        self._mapping = mapping or ColumnMapping()
        self._chunk_rows = chunk_rows

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> tuple[Stream, ...]:
        return tuple(stream for stream in ("customers", "orders") if stream in self._paths)

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        path = self._paths[stream]
        fingerprint = _fingerprint(path)
        done = 0
        if cursor is not None and cursor.get("fingerprint") == fingerprint:
            if cursor.get("complete"):
                return
            done = int(cursor.get("rows_done") or 0)
        total = await asyncio.to_thread(_count_rows, path)
        chunks = self._chunks(stream, path, done)
        # The next chunk is read and validated in a thread while the caller stores this one;
        # at most two chunks are in memory.
        ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
        try:
            while (batch := await ahead) is not None:
                ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
                done += batch.read
                yield Batch(
                    stream=stream,
                    cursor={"fingerprint": fingerprint, "rows_done": done, "complete": False},
                    records=batch.records,
                    rejected=batch.rejected,
                    read=batch.read,
                    total=total,
                )
        finally:
            await _settled(ahead)  # a thread cannot be cancelled: let it finish first
            chunks.close()
        yield Batch(
            stream=stream,
            cursor={"fingerprint": fingerprint, "rows_done": done, "complete": True},
            total=total,
        )

    def _chunks(self, stream: Stream, path: Path, skip: int) -> Generator[Batch, None, None]:
        """Validated chunks of the file after its first `skip` data rows (runs in a thread)."""
        frames = _xlsx_frames if path.suffix.lower() in (".xlsx", ".xlsm") else _csv_frames
        position = skip
        columns: dict[str, str] | None = None
        for frame in frames(path, skip=skip, chunk_rows=self._chunk_rows):
            if columns is None:
                columns = resolve_columns(
                    stream,
                    list(frame.columns),
                    mapping=getattr(self._mapping, stream),
                    attributes=self._rules.attributes if stream == "customers" else (),
                    where=str(path),
                )
            read = len(frame)
            row_numbers = np.arange(position, position + read) + FIRST_DATA_ROW
            position += read
            filled = frame.notna().any(axis=1).to_numpy()  # blank spreadsheet rows are skipped
            if not filled.all():
                frame, row_numbers = frame[filled], row_numbers[filled]
            canonical = frame[list(columns)].rename(columns=columns)
            checked = validate(
                stream, canonical, rules=self._rules, raw=frame, row_numbers=row_numbers
            )
            yield Batch(
                stream=stream,
                cursor={},
                records=checked.records,
                rejected=checked.rejected,
                read=read,
            )


async def _settled(future: "asyncio.Future[Batch | None]") -> None:
    """Wait for `future` without raising: its error, if any, is not the one in flight."""
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not report it as never retrieved


def _fingerprint(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError as error:
        raise SourceError(f"cannot read {path}: {error.strerror or error}") from None
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _count_rows(path: Path) -> int | None:
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


def _csv_frames(path: Path, *, skip: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            header = file.readline()
        delimiter = max(DELIMITERS, key=header.count)
        reader = pd.read_csv(
            path,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding="utf-8-sig",
            skiprows=range(1, skip + 1) if skip else None,
            chunksize=chunk_rows,
        )
        with reader:
            yield from reader
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise SourceError(f"cannot read {path}: {error}") from None


def _xlsx_frames(path: Path, *, skip: int, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError) as error:
        raise SourceError(f"cannot read {path}: {error}") from None
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(cell).strip() if cell is not None else "" for cell in next(rows, ())]
        width = len(header)
        rows = itertools.islice(rows, skip, None)
        while chunk := [_cells(row, width) for row in itertools.islice(rows, chunk_rows)]:
            yield pd.DataFrame(chunk, columns=header, dtype=object)
    finally:
        workbook.close()


def _cells(row: tuple[object, ...], width: int) -> list[object]:
    """A sheet row as wide as the header. Spreadsheets store ids and phones as numbers:
    1001.0 means '1001'."""
    cells = [int(v) if isinstance(v, float) and v.is_integer() else v for v in row[:width]]
    return cells + [None] * (width - len(cells))
