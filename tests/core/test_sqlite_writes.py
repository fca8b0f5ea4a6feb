"""SQLite takes one write at a time; contention is a wait, never an error (core.db).

Writers wait for the write lock (the busy timeout) instead of failing; a session that read
before another committed can still write (its read held no snapshot); and a session that
only read holds up no writer, so code that reads in one session and writes in another
cannot wait on itself (as it would if every transaction began with BEGIN IMMEDIATE). A task
cancelled in the middle of a transaction leaves no lock behind.
"""

import asyncio
import gc
import sqlite3
from datetime import UTC, datetime
from functools import partial
from random import Random

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

import migrations
from broadcasts.claims import beat
from broadcasts.models import SenderBeat
from core.db import SQLITE_BUSY_TIMEOUT_MS, SQLITE_POOL_TIMEOUT_S
from crm_sync.models import Customer
from tests.polling import until

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CANCELLED_WRITERS = 100  # about one in ten was left holding the lock before core.db's fix


@pytest.fixture(autouse=True)
def sqlite_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")


def customer(external_id: str) -> Customer:
    return Customer(
        source="shop", external_id=external_id, attributes={}, created_at=NOW, updated_at=NOW
    )


async def customers(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(Customer.external_id).order_by(Customer.external_id))
        return list(rows.all())


async def test_writers_wait_long_for_the_lock_and_for_a_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        busy_timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar()
    assert busy_timeout == SQLITE_BUSY_TIMEOUT_MS >= 30_000
    assert isinstance(engine.pool, QueuePool)
    assert engine.pool.timeout() == SQLITE_POOL_TIMEOUT_S


async def test_a_write_waits_for_the_write_before_it_to_commit(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as first:
        first.add(customer("c1"))
        await first.flush()  # holds the write lock until it commits

        async def second_writer() -> None:
            async with sessionmaker() as second:
                second.add(customer("c2"))
                await second.commit()

        second = asyncio.create_task(second_writer())
        await asyncio.sleep(0.2)  # let it start waiting for the lock
        await first.commit()
        await second  # waited, then wrote: no "database is locked"
    assert await customers(sessionmaker) == ["c1", "c2"]


async def test_a_session_that_read_before_another_committed_can_still_write(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as reader_then_writer:
        assert await reader_then_writer.scalar(select(func.count(Customer.id))) == 0
        async with sessionmaker() as other:
            other.add(customer("c1"))
            await other.commit()
        reader_then_writer.add(customer("c2"))
        await reader_then_writer.commit()  # no SQLITE_BUSY_SNAPSHOT
    assert await customers(sessionmaker) == ["c1", "c2"]


async def test_a_session_that_only_read_holds_up_no_writer(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as reading:
        await reading.scalar(select(func.count(Customer.id)))
        async with sessionmaker() as writing:  # as an admin command's audit entry does
            writing.add(customer("c1"))
            await writing.commit()
    assert await customers(sessionmaker) == ["c1"]


async def test_a_writer_cancelled_at_any_moment_leaves_the_write_lock_free(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A task in a transaction that writes, then reads rows, is cancelled at a random
    moment: once it has ended, another connection can write at once. The garbage
    collector is held off, as in a big process where its next full pass is minutes away
    (it would free what a cancelled statement left)."""
    async with sessionmaker() as session:
        session.add(customer("c1"))
        await session.commit()

    async def write_then_read() -> None:
        while True:
            async with sessionmaker() as session:
                await session.execute(update(Customer).values(name="written"))  # the lock
                await session.execute(select(Customer.id))  # rows, in the same transaction
                await session.commit()

    free = partial(_write_lock_free, str(engine.url.database))
    moments = Random(7)  # noqa: S311  (moments to cancel at, not secrets)
    gc.disable()
    try:
        for _ in range(CANCELLED_WRITERS):
            writer = asyncio.create_task(write_then_read())
            await asyncio.sleep(moments.uniform(0, 0.003))
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            await until(free, what="the cancelled writer's lock to be let go", within=10)
    finally:
        gc.enable()
        gc.collect()  # what a failure left locked, for the tests after this one


def _write_lock_free(path: str) -> bool:
    """Whether a new connection to the file at `path` gets the write lock right away."""
    connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()
    return True


async def test_a_command_that_only_reads_runs_while_another_process_writes(
    engine: AsyncEngine,
) -> None:
    """Getting a database already at the latest revision ready takes no write lock: a
    report or a search beside a busy bot does not queue behind its writes."""
    path = engine.url.database
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # another process, writing
        async with asyncio.timeout(10):  # the busy timeout is 30 s
            await migrations.make_ready(engine, upgrade_in_place=True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()


async def test_a_sender_beat_that_waited_for_the_lock_is_timed_when_it_lands(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A heartbeat timed before its wait for the write lock would land stale, and other
    processes would take a live sender for stopped."""
    path = engine.url.database
    assert path is not None
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a long write elsewhere (an import's batch)
    asked = datetime.now(UTC)
    async with sessionmaker() as session:
        beating = asyncio.create_task(beat(session, sender="s1", clock=lambda: datetime.now(UTC)))
        await asyncio.sleep(1.0)
        released = datetime.now(UTC)
        writer.execute("ROLLBACK")
        writer.close()
        landed = await beating
    assert landed >= released > asked
    async with sessionmaker() as session:
        assert await session.scalar(select(SenderBeat.beat_at)) == landed
