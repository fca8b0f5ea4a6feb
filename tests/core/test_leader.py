"""Leader election: one leader at a time on PostgreSQL, hand-over when it goes away, and
always-leader on SQLite."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine
from core.leader import lead

TEST_KEY = 0x7E57_0001


class Worker:
    """Work that runs until cancelled and remembers that it ran."""

    def __init__(self) -> None:
        self.running = asyncio.Event()
        self.stopped = asyncio.Event()

    async def __call__(self) -> None:
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.stopped.set()


@pytest.fixture
async def second_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Another process's view of the same database: its own connection pool."""
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def test_one_leader_at_a_time_and_a_standby_takes_over(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite runs one process")
    first, second = Worker(), Worker()
    leader = asyncio.create_task(lead(engine, first, key=TEST_KEY, retry_seconds=0.05))
    await asyncio.wait_for(first.running.wait(), 5)
    standby = asyncio.create_task(lead(second_engine, second, key=TEST_KEY, retry_seconds=0.05))
    try:
        await asyncio.sleep(0.3)
        assert not second.running.is_set()

        leader.cancel()  # the leader goes away
        await asyncio.gather(leader, return_exceptions=True)
        assert first.stopped.is_set()
        await asyncio.wait_for(second.running.wait(), 5)
    finally:
        standby.cancel()
        await asyncio.gather(standby, return_exceptions=True)


async def test_a_leader_that_loses_its_connection_stops_working(
    engine: AsyncEngine, second_engine: AsyncEngine
) -> None:
    """What PostgreSQL does when the leader's host vanishes: the session ends, the lock
    with it; the old leader must notice and stop before the standby starts."""
    if engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite runs one process")
    first, second = Worker(), Worker()
    leader = asyncio.create_task(
        lead(engine, first, key=TEST_KEY, retry_seconds=10, check_seconds=0.05)
    )
    tasks = [leader]
    try:
        # The standby starts once the first leads: started together, either may take the
        # lock first (on a busy machine the standby's connection can open sooner).
        await asyncio.wait_for(first.running.wait(), 5)
        tasks.append(
            asyncio.create_task(lead(second_engine, second, key=TEST_KEY, retry_seconds=0.05))
        )
        async with second_engine.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND objid = :low AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),  # pg_locks is the server's: another test run's leader is not this one's
                {"low": TEST_KEY & 0xFFFFFFFF},
            )
        await asyncio.wait_for(first.stopped.wait(), 5)
        await asyncio.wait_for(second.running.wait(), 5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_leader_whose_work_fails_steps_down(engine: AsyncEngine) -> None:
    async def broken() -> None:
        raise RuntimeError("the scheduler could not start")

    with pytest.raises(RuntimeError, match="could not start"):
        await asyncio.wait_for(lead(engine, broken, key=TEST_KEY, retry_seconds=0.05), 5)


async def test_on_sqlite_the_only_process_leads() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    worker = Worker()
    task = asyncio.create_task(lead(engine, worker))
    try:
        await asyncio.wait_for(worker.running.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()
