"""A shop's own database: any SQLAlchemy URL and one query per stream.

The query may use `:since` (an aware UTC timestamp) to pull only what changed:

    SELECT id AS order_id, client_id AS customer_id, created AS ordered_at, total AS amount
    FROM sales WHERE modified >= :since

A pass re-reads from the same `since` when it was interrupted (stored rows come back
unchanged); a finished pass moves `since` to its own start, less a safety overlap for
clocks that disagree and transactions still open when it started.

Before a run stores anything, `check` asks the database for each query's columns (the
query wrapped to return no rows), so a query without a column the sync needs, or naming
one twice, or with a parameter other than `:since`, fails the run having changed nothing.
Values are read as the database gives them: an integer column holding NULLs stays
integers (never "1.0"), and bytes are read as UTF-8 text.
"""

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, Row, TextClause, bindparam, make_url, text
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from core.clock import Clock, utcnow
from crm_sync.config import RecordRules
from crm_sync.connectors.base import Batch, Cursor, SourceError, validate
from crm_sync.connectors.columns import Columns, resolve_columns
from crm_sync.duplicates import FirstRows
from crm_sync.fields import Stream
from crm_sync.mapping import ColumnMapping

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OVERLAP = timedelta(minutes=5)
ASYNC_DRIVERS = {"postgresql": "postgresql+asyncpg", "sqlite": "sqlite+aiosqlite"}


class SqlConnector:
    def __init__(
        self,
        *,
        name: str,
        url: str,
        queries: dict[Stream, str],
        rules: RecordRules,
        mapping: ColumnMapping | None = None,
        chunk_rows: int = 20_000,
        clock: Clock = utcnow,
    ) -> None:
        self._name = name
        self._url = _async_url(url)
        self._queries = queries
        self._rules = rules
        self._mapping = mapping or ColumnMapping()
        self._chunk_rows = chunk_rows
        self._clock = clock

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> tuple[Stream, ...]:
        return tuple(stream for stream in ("customers", "orders") if stream in self._queries)

    async def check(self) -> None:
        engine = create_async_engine(self._url)
        try:
            async with _connected(engine, self._name) as connection:
                for stream, query in self._queries.items():
                    # On a line of its own, the bracket ends the query after a -- comment
                    no_rows = f"SELECT * FROM ({query.strip().rstrip(';')}\n) q WHERE 1 = 0"  # noqa: S608
                    statement = _statement(no_rows, source=self._name, stream=stream)
                    try:
                        result = await connection.execute(statement, {"since": EPOCH})
                    except Exception as error:  # the driver's own too (asyncpg's: not wrapped)
                        raise _failed(self._name, stream, error, query) from None
                    self._resolve(stream, list(result.keys()))
        finally:
            await engine.dispose()

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        since, started = _pass(cursor, self._clock)
        position = 0
        seen = FirstRows()  # an id the query returns twice is rejected the second time
        columns: Columns | None = None
        async for header, rows in self._read(stream, since):
            columns = columns or self._resolve(stream, header)
            if not rows:
                continue
            frame = _frame(rows, header)
            row_numbers = np.arange(position, position + len(frame)) + 1
            position += len(frame)
            checked = validate(
                stream,
                frame[list(columns.fields.values())].set_axis(list(columns.fields), axis="columns"),
                rules=self._rules,
                raw=frame,
                row_numbers=row_numbers,
                seen=seen,
            )
            yield Batch(
                stream=stream,
                cursor=_cursor(since, started, done=False),
                records=checked.records,
                rejected=checked.rejected,
                read=len(frame),
            )
        yield Batch(
            stream=stream,
            cursor=_cursor(started - OVERLAP, started, done=True),
            ignored_columns=columns.ignored if columns else (),
        )

    async def _read(
        self, stream: Stream, since: datetime
    ) -> AsyncIterator[tuple[list[str], Sequence[Row[Any]]]]:
        """The query's header (with no rows), then its rows `chunk_rows` at a time. A
        failure of the database or its driver (asyncpg's own errors reach here unwrapped,
        as rows stream) is a SourceError (`_failed`)."""
        query = self._queries[stream]
        statement = _statement(query, source=self._name, stream=stream)
        engine = create_async_engine(self._url)
        try:
            async with _connected(engine, self._name) as connection:
                try:
                    result = await connection.stream(statement, {"since": since})
                    header = list(result.keys())
                    yield header, ()  # the header before any row, so it is checked first
                    async for rows in result.partitions(self._chunk_rows):
                        yield header, rows
                except Exception as error:
                    raise _failed(self._name, stream, error, query) from None
        finally:
            await engine.dispose()

    def _resolve(self, stream: Stream, header: list[str]) -> Columns:
        """The query's columns for each field; SourceError if it names a column twice (a
        row could not say which of the two a field reads)."""
        repeated = sorted({name for name in header if header.count(name) > 1})
        if repeated:
            raise SourceError(
                f"{self._name}: the {stream} query returns {', '.join(map(repr, repeated))} "
                "more than once; name each column apart with AS"
            )
        return resolve_columns(
            stream,
            header,
            mapping=getattr(self._mapping, stream),
            attributes=self._rules.attributes if stream == "customers" else {},
            where=f"{self._name} {stream} query",
            map_in=f"segbot.yaml (crm connector {self._name}), or name them with AS",
        )


@asynccontextmanager
async def _connected(engine: AsyncEngine, source: str) -> AsyncIterator[AsyncConnection]:
    """A connection to the source database; SourceError when its URL carries an option
    the driver does not take (asyncpg has no `sslmode`: it takes `ssl`), or cannot read."""
    try:
        connection = await engine.connect()
    except (TypeError, ValueError) as error:
        raise SourceError(
            f"{source}: cannot connect to the database: {error}; check the options in its URL"
        ) from None
    try:
        yield connection
    finally:
        await connection.close()


def _frame(rows: Sequence[Row[Any]], header: list[str]) -> pd.DataFrame:
    """Rows as the database gave them: each value kept as it is, never widened to a float
    (pandas reads an integer column holding a NULL as floats, so id 1 would become "1.0"
    and ids past 2**53 another id)."""
    values = [tuple(_value(value) for value in row) for row in rows]
    return pd.DataFrame(values, columns=header, dtype=object)


def _value(value: object) -> object:
    """A database value as a record reads it: bytes (a BLOB, a binary-collated text
    column) as their UTF-8 text, a byte that is not UTF-8 written as its escape."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="backslashreplace")
    return value


def _statement(query: str, *, source: str, stream: Stream) -> TextClause:
    """The query, its `:since` (if it has one) bound as an aware timestamp; SourceError
    when it names another parameter (a colon in a literal, such as '{"a":1}', reads as one)."""
    statement = text(query)
    params = statement.compile().params
    others = sorted(name for name in params if name != "since")
    if others:
        raise SourceError(
            f"{source}: the {stream} query has the parameter(s) "
            f"{', '.join(':' + name for name in others)}, but :since is the only one; "
            "write a colon that starts no parameter as \\:"
        )
    if "since" in params:
        statement = statement.bindparams(bindparam("since", type_=DateTime(timezone=True)))
    return statement


def _failed(source: str, stream: Stream, error: Exception, query: str) -> SourceError:
    """The query's failure, as the run's error says it (and the log, and the CLI). What the
    database quotes in its message is kept only where the query names it (a column, a
    table): a value it quotes comes from a row (`invalid input syntax for type integer:
    "ana@example.com"`), and may be someone's email or name."""
    reason = getattr(error, "orig", None) or error
    said = _QUOTED.sub(lambda quoted: _named_in(quoted, query), str(reason))
    return SourceError(f"{source}: the {stream} query failed: {type(reason).__name__}: {said}")


# A quoted word of a database's error message, with its quotes: "x", 'x' or `x`.
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|`[^`]*`")


def _named_in(quoted: re.Match[str], query: str) -> str:
    inside = quoted.group()[1:-1]
    if inside and inside.lower() in query.lower():
        return quoted.group()
    return f"{quoted.group()[0]}…{quoted.group()[0]}"


def _pass(cursor: Cursor | None, clock: Clock) -> tuple[datetime, datetime]:
    """(`since` of this pass, when the pass started): an unfinished pass is resumed."""
    if cursor is None:
        return EPOCH, clock()
    since = datetime.fromisoformat(str(cursor.get("since") or EPOCH.isoformat()))
    if not cursor.get("complete") and cursor.get("pass_started"):
        return since, datetime.fromisoformat(str(cursor["pass_started"]))
    return since, clock()


def _cursor(since: datetime, started: datetime, *, done: bool) -> Cursor:
    return {"since": since.isoformat(), "pass_started": started.isoformat(), "complete": done}


def _async_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise SourceError("crm sql connector: not a database URL") from None
    if parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    try:
        create_async_engine(parsed)  # fails early on a driver that is not async
    except (SQLAlchemyError, ImportError) as error:
        raise SourceError(
            f"crm sql connector: {parsed.drivername} cannot be used asynchronously ({error}); "
            "use an async driver such as postgresql+asyncpg or mysql+aiomysql"
        ) from None
    except (TypeError, ValueError) as error:  # an option of the URL its driver cannot read
        raise SourceError(
            f"crm sql connector: {error}; check the options in the database URL"
        ) from None
    return parsed.render_as_string(hide_password=False)
