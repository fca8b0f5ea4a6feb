"""CSV and XLSX exports of customers and orders, read in chunks so memory stays bounded
(`crm_sync.connectors.sheets`).

The cursor remembers the file (size and modification time) and how many rows are stored:
an interrupted import resumes after the last stored row (reading the rows before it again
only for their ids, so a repeat of one is still rejected), an unchanged file is not read
again, and a changed file is read from the top (stored rows come back unchanged).

`check` reads every file's header before a run stores anything, so a file without a column
the import needs (or one the mapping names) fails the import having changed nothing. The
columns nothing reads are handed on with the last batch of their file, to be reported; the
sheets of a workbook past the first, which are not read, are kept in `unread_sheets`.
"""

import asyncio
from collections.abc import AsyncIterator, Generator
from dataclasses import replace
from pathlib import Path

import numpy as np

from crm_sync.config import RecordRules
from crm_sync.connectors.base import Batch, Cursor, SourceError, validate
from crm_sync.connectors.columns import Columns, resolve_columns
from crm_sync.connectors.sheets import (
    Chunk,
    count_rows,
    read_chunks,
    read_header,
    unread_sheets,
)
from crm_sync.duplicates import FirstRows
from crm_sync.fields import Stream
from crm_sync.mapping import ColumnMapping
from crm_sync.raw import JsonValue, jsonable_records
from crm_sync.records import Rejection, Validated

SURPLUS_FIELDS = "(fields past the header)"  # where a rejected overlong row keeps them


class FilesConnector:
    def __init__(
        self,
        *,
        name: str,
        customers: Path | None,
        orders: Path | None,
        rules: RecordRules,
        mapping: ColumnMapping | None = None,
        mapped_in: str | None = None,
        chunk_rows: int = 100_000,
    ) -> None:
        """`mapped_in` says where a person names columns, for errors (default: this
        connector in segbot.yaml; `segbot crm import` says its --mapping file)."""
        self._name = name
        self._paths: dict[Stream, Path] = {}
        if customers is not None:
            self._paths["customers"] = customers
        if orders is not None:
            self._paths["orders"] = orders
        self._rules = rules
        self._mapping = mapping or ColumnMapping()
        self._mapped_in = mapped_in or f"segbot.yaml (crm connector {name})"
        self._chunk_rows = chunk_rows
        self._columns: dict[Stream, Columns] = {}
        self._unread_sheets: dict[Stream, list[str]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> tuple[Stream, ...]:
        return tuple(stream for stream in ("customers", "orders") if stream in self._paths)

    @property
    def unread_sheets(self) -> dict[Stream, list[str]]:
        """The sheets holding data that a stream's workbook has besides the first, the one
        read (known once `check` has run)."""
        return self._unread_sheets

    async def check(self) -> None:
        for stream, path in self._paths.items():
            if path.exists() and not path.is_file():  # read for ever, or waited on
                raise SourceError(f"cannot read {path}: not a regular file (a pipe or a device)")
            header = await asyncio.to_thread(read_header, path)
            self._columns[stream] = self._resolve(stream, header, path)
            if sheets := await asyncio.to_thread(unread_sheets, path):
                self._unread_sheets[stream] = sheets

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        path = self._paths[stream]
        fingerprint = _fingerprint(path)
        done = 0
        if cursor is not None and cursor.get("fingerprint") == fingerprint:
            if cursor.get("complete"):
                return
            done = int(cursor.get("rows_done") or 0)
        total = await asyncio.to_thread(count_rows, path)
        chunks = self._chunks(stream, path, done)
        # The next chunk is read and validated in a thread while the caller stores this one;
        # at most two chunks are in memory.
        ahead = asyncio.ensure_future(asyncio.to_thread(next, chunks, None))
        try:
            # Shielded: a cancel (Ctrl-C) must not take `ahead` for done while its thread
            # is still in `chunks`, which cannot be closed until the thread is out.
            while (batch := await asyncio.shield(ahead)) is not None:
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
        columns = self._columns.get(stream)
        yield Batch(
            stream=stream,
            cursor={"fingerprint": fingerprint, "rows_done": done, "complete": True},
            total=total,
            ignored_columns=columns.ignored if columns else (),
        )

    def _chunks(self, stream: Stream, path: Path, skip: int) -> Generator[Batch, None, None]:
        """Validated chunks of the file after its first `skip` data rows (runs in a thread).
        A row with more fields than the header is rejected; an id is checked against
        every row before it in the file, those `skip` rows too (`_check_again`)."""
        seen = FirstRows()
        self._check_again(stream, path, skip, seen)
        for chunk in read_chunks(path, skip=skip, chunk_rows=self._chunk_rows):
            checked = self._checked(stream, path, chunk, seen)
            yield Batch(
                stream=stream,
                cursor={},
                records=checked.records,
                rejected=checked.rejected,
                read=len(chunk.frame),
            )

    def _check_again(self, stream: Stream, path: Path, rows: int, seen: FirstRows) -> None:
        """Check the file's first `rows` data rows again, for the ids they hold, when a pass
        resumes after them (they were stored by the run before): an id that comes again
        later is a repeat of theirs."""
        if rows <= 0:
            return
        for chunk in read_chunks(path, skip=0, chunk_rows=self._chunk_rows):
            if len(chunk.frame) >= rows:
                surplus = {at: fields for at, fields in chunk.surplus.items() if at < rows}
                self._checked(
                    stream, path, replace(chunk, frame=chunk.frame[:rows], surplus=surplus), seen
                )
                return
            self._checked(stream, path, chunk, seen)
            rows -= len(chunk.frame)

    def _checked(self, stream: Stream, path: Path, chunk: Chunk, seen: FirstRows) -> Validated:
        """The chunk's records, and its rejections in reading order."""
        columns = self._columns.get(stream)
        frame = chunk.frame
        if columns is None:
            columns = self._columns[stream] = self._resolve(stream, list(frame.columns), path)
        row_numbers = np.arange(len(frame)) + chunk.first_row
        overlong = _overlong(chunk, columns, row_numbers)
        keep = frame.notna().any(axis=1).to_numpy(copy=True)  # blank rows are skipped
        keep[list(chunk.surplus)] = False
        if not keep.all():
            frame, row_numbers = frame[keep], row_numbers[keep]
        canonical = frame[list(columns.fields.values())].set_axis(
            list(columns.fields), axis="columns"
        )
        checked = validate(
            stream, canonical, rules=self._rules, raw=frame, row_numbers=row_numbers, seen=seen
        )
        rejected = overlong + checked.rejected
        return Validated(
            records=checked.records,
            rejected=sorted(rejected, key=lambda rejection: rejection.row_number or 0),
        )

    def _resolve(self, stream: Stream, header: list[str], path: Path) -> Columns:
        return resolve_columns(
            stream,
            header,
            mapping=getattr(self._mapping, stream),
            attributes=self._rules.attributes if stream == "customers" else {},
            where=str(path),
            map_in=self._mapped_in,
        )


def _overlong(chunk: Chunk, columns: Columns, row_numbers: np.ndarray) -> list[Rejection]:
    """The rows with more fields than the header, kept as read with the fields past it."""
    if not chunk.surplus:
        return []
    positions = np.fromiter(chunk.surplus, dtype=np.int64)
    width = len(chunk.frame.columns)
    id_column = columns.fields.get("external_id")
    rejections = []
    for position, raw in zip(positions, jsonable_records(chunk.frame, positions), strict=True):
        surplus: list[JsonValue] = [*chunk.surplus[int(position)]]
        external_id = raw.get(id_column) if id_column else None
        rejections.append(
            Rejection(
                row_number=int(row_numbers[position]),
                external_id=external_id if isinstance(external_id, str) else None,
                raw={**raw, SURPLUS_FIELDS: surplus},
                reason=(
                    f"{width + len(surplus)} fields where the header has {width}: "
                    f"a value holding {chunk.delimiter!r} must be in double quotes"
                ),
            )
        )
    return rejections


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
