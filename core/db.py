"""The database: declarative Base, portable column types, engine, sessions and upsert.

Everything here works the same on SQLite (the embedded default) and PostgreSQL.

An engine keeps what it is given out of logs and errors: its URL shows with the password
masked, and SQL parameters (phones, emails, names, message texts) are left out of its log
lines and of the `[parameters: ...]` in its error messages, unless `show_parameters` asks
for them (SEGBOT_LOG_SQL, for debugging).
"""

import enum
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    Dialect,
    Enum,
    Integer,
    MetaData,
    SQLColumnExpression,
    Table,
    cast,
    event,
    func,
    make_url,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from core.settings import SERVER_SETTINGS, SecretUrl

# Named constraints let Alembic alter them later, SQLite batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit key on PostgreSQL; SQLite only autoincrements a column declared INTEGER.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored and read back as aware UTC on every database.

    SQLite keeps no zone and hands back naive values; this makes them UTC again, and
    refuses naive values on the way in so a local time can never slip into the data.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: segbot stores aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_microseconds(dialect: str) -> Callable[[SQLColumnExpression[Any]], ColumnElement[int]]:
    """A `UtcDateTime` as whole microseconds since the epoch, an integer: exact on both
    databases, and half a million of them decode many times faster than timestamps.

    SQLite holds the time as the text 'YYYY-MM-DD HH:MM:SS.ffffff': the seconds of the
    text without its fraction (`strftime` would round a fraction of .9995 or more up to
    the next second), then the six digits of the fraction."""
    if dialect == "postgresql":
        return lambda moment: cast(func.extract("epoch", moment) * 1_000_000, BigInteger)
    return lambda moment: (
        cast(func.strftime("%s", func.substr(moment, 1, 19)), BigInteger) * 1_000_000
        + cast(func.substr(moment, 21, 6), BigInteger)
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


# How long a SQLite connection waits for another's write transaction before "database is
# locked", and how long a session waits for a pooled connection. A burst of updates queues
# on both (SQLite takes one write at a time); at 5 s and 30 s, a burst of 1,000 /start on a
# loaded machine lost updates to each of them. Waiting is what should happen.
SQLITE_BUSY_TIMEOUT_MS = 30_000
_WAL_RETRY_SECONDS = 0.01  # between two asks to switch a busy new file to WAL
SQLITE_POOL_TIMEOUT_S = 300.0


def create_engine(
    url: str | SecretUrl,
    *,
    show_parameters: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout on every connection.

    `url` may be the configured secret (SEGBOT_DATABASE_URL): it is revealed only here.
    SQL parameters appear in log lines and error messages only with `show_parameters`.

    On PostgreSQL a process keeps up to `pool_size` connections open and opens up to
    `max_overflow` more under load (SEGBOT_DB_POOL_SIZE, SEGBOT_DB_MAX_OVERFLOW).

    SQLite serialises writers: a write waits up to `SQLITE_BUSY_TIMEOUT_MS` for the one
    before it to commit, so lock contention is a wait, not an error. The wait works because
    the driver keeps its own transaction control: a SELECT runs outside any transaction and
    BEGIN comes just before a transaction's first INSERT, UPDATE or DELETE, so every write
    transaction starts by asking for the write lock, which SQLite waits for (as with BEGIN
    IMMEDIATE). A transaction that had read first would instead fail at once on its first
    write if another connection had committed meanwhile (SQLITE_BUSY_SNAPSHOT: no timeout
    helps). The driver's BEGIN is BEGIN IMMEDIATE, so it asks for the write lock even when
    the first write is to a TEMPORARY table: a job that stages rows there, reads the
    database and then writes it would otherwise have read first. BEGIN IMMEDIATE on every
    transaction (SQLAlchemy's recipe) is not used: a read would then hold the write lock
    until its session ends, and code that reads in one session and then writes in another
    (every admin command, then its audit entry) would wait on itself until the timeout.
    tests/core/test_sqlite_writes.py and tests/core/test_sqlite_staging.py show all of this.
    """
    parsed = make_url(url.get_secret_value() if isinstance(url, SecretUrl) else url)
    hide_parameters = not show_parameters
    if parsed.get_backend_name() == "sqlite":
        # A file has a pool of connections to wait for; an in-memory database shares one.
        dialect = parsed.get_dialect()
        pooled = issubclass(dialect, DefaultDialect) and issubclass(
            dialect.get_pool_class(parsed), QueuePool
        )
        waiting = {"pool_timeout": SQLITE_POOL_TIMEOUT_S} if pooled else {}
        engine = _create_async_engine(
            parsed,
            hide_parameters=hide_parameters,
            # The driver's BEGIN (see above); connections that roll back as they close.
            connect_args={"isolation_level": "IMMEDIATE", "factory": _RollingBackConnection},
            **waiting,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    # libpq's application_name (in the URL) is a server setting to asyncpg.
    settings = {name: str(parsed.query[name]) for name in SERVER_SETTINGS if name in parsed.query}
    return _create_async_engine(
        parsed.difference_update_query(SERVER_SETTINGS),
        hide_parameters=hide_parameters,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={"server_settings": settings} if settings else {},
    )


class _RollingBackConnection(sqlite3.Connection):
    """A SQLite connection that rolls back what it has not committed before it closes.

    A task cancelled during a statement that returns rows (a SELECT in a write
    transaction, an INSERT ... RETURNING) leaves the statement unfinished: the driver's
    thread ran it, the task never fetched its rows. SQLAlchemy then closes the connection
    as broken, without a rollback, and SQLite keeps a connection closed with a statement
    unfinished alive, transaction and write lock included, until the statement is freed:
    at the garbage collector's next full pass, minutes later in a big process. Every
    writer meanwhile waits out its busy timeout and fails ("database is locked"). A
    rollback first ends the transaction whatever is unfinished
    (tests/core/test_sqlite_writes.py)."""

    def close(self) -> None:
        with suppress(sqlite3.Error):  # closing anyway: nothing to roll back
            self.rollback()
        super().close()


def _configure_sqlite(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _into_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _into_wal(cursor: Any) -> None:
    """Put the file in WAL mode (it stays so: once one connection has switched it, the
    others find it done). Switching a new file takes a lock SQLite does not always wait
    for, busy timeout or not: two connections opening a new file at once (two processes
    starting, two migrations) would fail with "database is locked". So the switch is asked
    for again while the file is busy, up to the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too
            if not busy or time.monotonic() > deadline:
                raise
        time.sleep(_WAL_RETRY_SECONDS)


# SQLite's SQLITE_BUSY and SQLITE_LOCKED (primary codes: extended codes carry them in the
# low byte); PostgreSQL's serialization_failure and deadlock_detected.
_SQLITE_CONFLICTS = frozenset({5, 6})
_POSTGRES_CONFLICTS = frozenset({"40001", "40P01"})


def is_contention(error: BaseException) -> bool:
    """Whether `error` is a transaction losing out to concurrent work, which running it
    again from its start can cure: a write conflict (SQLite: the database stayed locked
    through the busy timeout; PostgreSQL: a serialization failure or a deadlock) or no
    pooled connection coming free in time. Any other error is not."""
    if isinstance(error, PoolTimeoutError):
        return True
    if not isinstance(error, DBAPIError):
        return False
    original = error.orig
    sqlite_code = getattr(original, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return sqlite_code & 0xFF in _SQLITE_CONFLICTS
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate in _POSTGRES_CONFLICTS
    return "database is locked" in str(original)


def failure_kind(error: BaseException) -> str:
    """What failed, by kind and code alone ("database error DataError (22P02)"), for a log
    line: a database's own words may quote the value that failed, a subscriber's data."""
    if not isinstance(error, DBAPIError):
        return type(error).__name__
    original = error.orig if error.orig is not None else error
    # asyncpg's errors come wrapped in the adapter's one class: the cause names the kind.
    kind = original.__cause__ if original.__cause__ is not None else original
    code = getattr(original, "sqlstate", None) or getattr(original, "sqlite_errorname", None)
    return f"database error {type(kind).__name__}" + (f" ({code})" if code else "")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on `engine`, with a Session class of their own, so that session events
    (`core.events.EventLog.hear_commits`) hear this sessionmaker's sessions only."""
    own_class = type("SegbotSession", (Session,), {})
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=own_class)


@asynccontextmanager
async def one_connection(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session of `sessionmaker` that keeps one connection through all its commits.

    A session gives its connection back to the pool at each commit and takes whichever
    is free at its next statement, so what lives on a connection (SQLite's PRAGMAs,
    PostgreSQL's SETs, temporary tables) would be lost to it and left to another
    session. Work that sets such things up for itself runs in one of these.
    """
    engine = sessionmaker.kw["bind"]
    async with engine.connect() as connection, sessionmaker(bind=connection) as session:
        yield session


def dialect_insert(
    session: AsyncSession, table: type[Base] | Table
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` in the session's dialect, so it can take ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def upsert(
    session: AsyncSession,
    model: type[Base],
    rows: Sequence[Mapping[str, object]],
    *,
    key: Sequence[str],
    update: Sequence[str] | None = None,
) -> None:
    """Insert `rows`; where one collides on the unique `key`, update the `update` columns.

    `update=None` updates every column the rows carry except the key; `update=()` keeps the
    existing row untouched. Rows go in as one executemany, batched by SQLAlchemy.
    """
    if not rows:
        return
    statement = dialect_insert(session, model)
    columns = update if update is not None else [c for c in rows[0] if c not in key]
    if columns:
        upserting = statement.on_conflict_do_update(
            index_elements=list(key),
            set_={column: statement.excluded[column] for column in columns},
        )
    else:
        upserting = statement.on_conflict_do_nothing(index_elements=list(key))
    await session.execute(upserting, list(rows))


# Per hash join or aggregate, for queries over the whole audience (the server's default
# is often 4 MB, at which a million subscribers' hash tables spill to disk in batches).
AUDIENCE_QUERY_WORK_MEM = "64MB"


async def for_audience_queries(session: AsyncSession) -> None:
    """PostgreSQL: let this transaction's hash joins and aggregates hold the audience in
    memory (SET LOCAL: it ends with the transaction). SQLite has no such setting."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"SET LOCAL work_mem = '{AUDIENCE_QUERY_WORK_MEM}'"))


async def analyze(session: AsyncSession, *tables: str) -> None:
    """PostgreSQL: renew the planner's statistics of `tables`, after a job rewrote much of
    them and right before the audience queries that read them (autovacuum gets there in
    its own time, or never where it is off; a table planned as empty may be scanned once
    per row). Sampling costs a fraction of a second. SQLite plans without statistics."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"ANALYZE {', '.join(tables)}"))


# When a table is due for new statistics, by autovacuum's default rule: more rows written
# than 50 plus a tenth of the rows the planner last counted in it.
ANALYZE_BASE_ROWS, ANALYZE_SHARE = 50, 0.1


async def due_by_autovacuum_rule(
    session: AsyncSession, written: Mapping[str, int], *, base_rows: int, share: float
) -> list[str]:
    """PostgreSQL: the tables of `written` (unqualified name: rows written) with more rows
    written than `base_rows` plus `share` of the rows the planner last counted in them (a
    table never analysed counting none), as autovacuum's rules judge; SQLite: none."""
    if session.get_bind().dialect.name != "postgresql":
        return []
    counted = await session.execute(
        text(
            "SELECT relname, greatest(reltuples, 0) FROM pg_class"
            " WHERE oid = ANY(CAST(CAST(:tables AS text[]) AS regclass[]))"
        ),
        {"tables": list(written)},
    )
    planned = {str(table): float(rows) for table, rows in counted.all()}
    return [
        table for table, rows in written.items() if rows > base_rows + share * planned.get(table, 0)
    ]


async def analyze_if_due(session: AsyncSession, written: Mapping[str, int]) -> None:
    """PostgreSQL: `analyze` the tables of `written` that autovacuum's default rule finds
    due; for a job that writes in bulk now and then, where autovacuum may be late or off.
    SQLite: nothing (see `analyze`)."""
    due = await due_by_autovacuum_rule(
        session, written, base_rows=ANALYZE_BASE_ROWS, share=ANALYZE_SHARE
    )
    if due:
        await analyze(session, *due)


def text_enum(enum_class: type[enum.StrEnum]) -> Enum:
    """A portable enum column: VARCHAR holding the member's value, no native DB type."""
    return Enum(
        enum_class,
        native_enum=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )
