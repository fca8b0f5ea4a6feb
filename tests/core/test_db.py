import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import SQLITE_BUSY_TIMEOUT_MS, create_engine, is_contention, one_connection, upsert
from core.settings import load_settings
from crm_sync.models import Customer

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def customer(external_id: str, name: str) -> dict[str, object]:
    return {
        "source": "shop",
        "external_id": external_id,
        "name": name,
        "attributes": {},
        "created_at": NOW,
        "updated_at": NOW,
    }


async def test_sqlite_runs_in_wal_mode_with_foreign_keys(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    async with engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_connections_opening_a_new_sqlite_file_at_once_all_get_wal(
    tmp_path: Path,
) -> None:
    """Two processes starting (or two migrations) open a new file at the same moment:
    every connection waits its turn to switch the file to WAL, none fails as locked."""
    for attempt in range(10):
        url = f"sqlite+aiosqlite:///{tmp_path / f'new{attempt}.db'}"
        engines = [create_engine(url) for _ in range(6)]

        async def mode(engine: AsyncEngine) -> object:
            async with engine.connect() as connection:
                return (await connection.execute(text("PRAGMA journal_mode"))).scalar()

        try:
            assert await asyncio.gather(*(mode(engine) for engine in engines)) == ["wal"] * 6
        finally:
            for engine in engines:
                await engine.dispose()


async def test_one_connection_keeps_its_connection_through_commits(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """What lives on a connection (here a temporary table) stays the session's though
    another session takes a pooled connection between its commits, and each commit
    commits."""
    async with one_connection(sessionmaker) as pinned:
        await pinned.execute(text("CREATE TEMPORARY TABLE pinned_probe (x INTEGER)"))
        await pinned.commit()
        async with sessionmaker() as other:
            await other.execute(text("SELECT 1"))  # holds the connection `pinned` gave back
            await upsert(pinned, Customer, [customer("c1", "Ann")], key=("source", "external_id"))
            await pinned.execute(text("INSERT INTO pinned_probe VALUES (1)"))
            await pinned.commit()
            await other.rollback()
            assert await other.scalar(select(Customer.name)) == "Ann"
        assert await pinned.scalar(text("SELECT count(*) FROM pinned_probe")) == 1


async def test_upsert_inserts_then_updates_on_the_key(session: AsyncSession) -> None:
    await upsert(
        session,
        Customer,
        [customer("c1", "Ann"), customer("c2", "Bo")],
        key=["source", "external_id"],
    )
    await upsert(
        session,
        Customer,
        [customer("c2", "Bob"), customer("c3", "Cy")],
        key=["source", "external_id"],
    )
    await session.commit()
    names = (await session.scalars(select(Customer.name).order_by(Customer.external_id))).all()
    assert names == ["Ann", "Bob", "Cy"]


async def test_upsert_can_keep_existing_rows(session: AsyncSession) -> None:
    await upsert(session, Customer, [customer("c1", "Ann")], key=["source", "external_id"])
    await upsert(
        session, Customer, [customer("c1", "Changed")], key=["source", "external_id"], update=()
    )
    await session.commit()
    assert await session.scalar(select(Customer.name)) == "Ann"


async def test_upsert_of_nothing_is_a_no_op(session: AsyncSession) -> None:
    await upsert(session, Customer, [], key=["source", "external_id"])


async def test_timestamps_come_back_aware_utc(session: AsyncSession) -> None:
    madrid_time = NOW.astimezone(timezone(timedelta(hours=1)))
    await upsert(
        session,
        Customer,
        [customer("c1", "Ann") | {"created_at": madrid_time}],
        key=["source", "external_id"],
    )
    await session.commit()
    stored = await session.scalar(select(Customer.created_at))
    assert stored == NOW
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)


async def test_naive_timestamps_are_refused(session: AsyncSession) -> None:
    naive = datetime(2026, 11, 1, 12, 0)  # noqa: DTZ001  (the point of the test)
    with pytest.raises(StatementError, match="naive datetime"):
        await upsert(
            session,
            Customer,
            [customer("c1", "Ann") | {"created_at": naive}],
            key=["source", "external_id"],
        )


async def test_a_write_conflict_is_told_from_other_errors(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """What DbSessionMiddleware retries: a real conflict on this database, or no free
    connection; nothing else."""
    conflict = _sqlite_conflict if engine.dialect.name == "sqlite" else _postgres_conflict
    async with sessionmaker() as first, sessionmaker() as second:
        with pytest.raises(DBAPIError) as raised:
            await conflict(first, second)
    assert is_contention(raised.value)

    async with sessionmaker() as session:
        session.add_all([Customer(**customer("c2", "Bo")), Customer(**customer("c2", "Cy"))])
        with pytest.raises(IntegrityError) as duplicate:
            await session.commit()
    assert not is_contention(duplicate.value)
    assert not is_contention(ValueError("database is locked"))
    assert is_contention(PoolTimeoutError("QueuePool limit reached, connection timed out"))


async def _sqlite_conflict(first: AsyncSession, second: AsyncSession) -> None:
    """A write while another connection holds the write lock, not waiting for it."""
    first.add(Customer(**customer("c1", "Ann")))
    await first.flush()  # holds the write lock
    await second.execute(text("PRAGMA busy_timeout=0"))
    try:
        await second.execute(delete(Customer))
    finally:  # the connection goes back to the pool as every other one
        await second.execute(text(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"))


async def _postgres_conflict(first: AsyncSession, second: AsyncSession) -> None:
    """Two REPEATABLE READ transactions updating one row: the second to write cannot be
    serialised after the first (serialization_failure)."""
    first.add(Customer(**customer("c1", "Ann")))
    await first.commit()
    await second.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    await second.scalar(select(Customer.name))
    await first.execute(update(Customer).values(name="Ann B"))
    await first.commit()
    await second.execute(update(Customer).values(name="Ann C"))


PERSONAL = "Ann Personal-Name"  # a value the rows carry that no error may quote


async def test_database_errors_quote_no_sql_parameters(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        session.add_all(
            [Customer(**customer("c9", PERSONAL)), Customer(**customer("c9", PERSONAL))]
        )
        with pytest.raises(IntegrityError) as duplicate:
            await session.commit()
    assert "INSERT INTO customers" in str(duplicate.value)  # the statement, to debug with
    assert PERSONAL not in str(duplicate.value)


async def test_sql_parameters_show_only_when_asked_for(database_url: str) -> None:
    engine = create_engine(database_url, show_parameters=True)  # what SEGBOT_LOG_SQL does
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(
                    text("SELECT * FROM nowhere WHERE x = :x"), {"x": PERSONAL}
                )
    finally:
        await engine.dispose()
    assert PERSONAL in str(raised.value)


async def test_an_engine_takes_the_configured_secret_url_and_never_shows_its_password(
    database_url: str,
) -> None:
    settings = load_settings(database_url=database_url)
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()
    with_password = create_engine("postgresql+asyncpg://segbot:Db-Pa55word-x9@db.example/segbot")
    shown = [repr(with_password.sync_engine), str(with_password.url), repr(with_password.url)]
    assert all("Db-Pa55word-x9" not in text for text in shown)
