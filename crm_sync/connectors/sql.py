"""A shop's own database: any SQLAlchemy URL and one query per stream.

The query may use `:since` (an aware UTC timestamp) to pull only what changed:

    SELECT id AS order_id, client_id AS customer_id, created AS ordered_at, total AS amount
    FROM sales WHERE modified >= :since

A pass re-reads from the same `since` when it was interrupted (stored rows come back
unchanged); a finished pass moves `since` to its own start, less a safety overlap for
clocks that disagree and transactions still open when it started.

Before a run stores anything, `check` asks the database for each query's columns (the
query wrapped to return no rows), so a query without a column the sync needs fails the
run having changed nothing.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import DateTime, TextClause, bindparam, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

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
            async with engine.connect() as connection:
                for stream, query in self._queries.items():
                    no_rows = f"SELECT * FROM ({query.strip().rstrip(';')}) q WHERE 1 = 0"  # noqa: S608
                    try:
                        result = await connection.execute(_statement(no_rows), {"since": EPOCH})
                    except (DBAPIError, OSError) as error:
                        raise _failed(self._name, stream, error) from None
                    self._resolve(stream, list(result.keys()))
        finally:
            await engine.dispose()

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        since, started = _pass(cursor, self._clock)
        statement = _statement(self._queries[stream])
        position = 0
        seen = FirstRows()  # an id the query returns twice is rejected the second time
        engine = create_async_engine(self._url)
        try:
            async with engine.connect() as connection:
                result = await connection.stream(statement, {"since": since})
                header = list(result.keys())
                columns = self._resolve(stream, header)
                async for rows in result.partitions(self._chunk_rows):
                    frame = pd.DataFrame.from_records(rows, columns=header)
                    row_numbers = np.arange(position, position + len(frame)) + 1
                    position += len(frame)
                    checked = validate(
                        stream,
                        frame[list(columns.fields.values())].set_axis(
                            list(columns.fields), axis="columns"
                        ),
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
        except (DBAPIError, OSError) as error:
            raise _failed(self._name, stream, error) from None
        finally:
            await engine.dispose()
        yield Batch(
            stream=stream,
            cursor=_cursor(started - OVERLAP, started, done=True),
            ignored_columns=columns.ignored,
        )

    def _resolve(self, stream: Stream, header: list[str]) -> Columns:
        return resolve_columns(
            stream,
            header,
            mapping=getattr(self._mapping, stream),
            attributes=self._rules.attributes if stream == "customers" else {},
            where=f"{self._name} {stream} query",
            map_in=f"segbot.yaml (crm connector {self._name}), or name them with AS",
        )


def _statement(query: str) -> TextClause:
    """The query, its `:since` (if it has one) bound as an aware timestamp."""
    statement = text(query)
    if "since" in statement.compile().params:
        statement = statement.bindparams(bindparam("since", type_=DateTime(timezone=True)))
    return statement


def _failed(source: str, stream: Stream, error: DBAPIError | OSError) -> SourceError:
    reason = getattr(error, "orig", None) or error
    return SourceError(f"{source}: the {stream} query failed: {type(reason).__name__}: {reason}")


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
    except ArgumentError:
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
    return parsed.render_as_string(hide_password=False)
