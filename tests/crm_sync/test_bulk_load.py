"""A first import sets the tables' secondary indexes and foreign keys aside (SQLite: its
connection stops checking the keys) and puts them back: when it succeeds, when it fails
or is stopped part way, and at the next run when its process died in between. A table
another transaction is reading keeps them."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, delete, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.schema import DropConstraint, DropIndex

from core.db import one_connection
from crm_sync.bulk_load import filling, restore
from crm_sync.connectors import Batch, Cursor, FilesConnector, SourceError
from crm_sync.fields import Stream
from crm_sync.jobs import scheduled_sync
from crm_sync.models import Customer, Order
from crm_sync.store import CUSTOMERS, ORDERS
from crm_sync.worker import run_sync
from tests.crm_sync.shop import ORDER_HEADER, RULES, HangsAfterOneBatch, write_csv

TABLES = (CUSTOMERS, ORDERS)
# What the models declare: the non-unique indexes and the foreign keys of each table.
DECLARED = {
    table.name: (
        {str(index.name) for index in table.indexes if not index.unique},
        {str(key.name) for key in table.foreign_key_constraints},
    )
    for table in TABLES
}


def _schema(connection: Connection) -> dict[str, tuple[set[str], set[str]]]:
    inspector = inspect(connection)
    return {
        table.name: (
            {str(index["name"]) for index in inspector.get_indexes(table.name)}
            & DECLARED[table.name][0],
            {str(key["name"]) for key in inspector.get_foreign_keys(table.name)},
        )
        for table in TABLES
    }


async def schema(session: AsyncSession) -> dict[str, tuple[set[str], set[str]]]:
    """The declared indexes the database has, and its foreign keys, per table."""
    connection = await session.connection()
    found = await connection.run_sync(_schema)
    await session.commit()  # no transaction left open on the tables
    return found


def shop(customers: Path | None, orders: Path, *, chunk_rows: int = 100) -> FilesConnector:
    return FilesConnector(
        name="shop", customers=customers, orders=orders, rules=RULES, chunk_rows=chunk_rows
    )


def many_orders(folder: Path, count: int) -> Path:
    rows = [
        (f"o{number}", f"c{number % 7}", "2026-01-10T10:00:00Z", "10", "EUR", "completed")
        for number in range(count)
    ]
    return write_csv(folder / "orders.csv", ORDER_HEADER, rows)


class FailsAfterOneBatch:
    """The files connector, whose source fails after the first batch of orders."""

    def __init__(self, inner: FilesConnector) -> None:
        self.inner = inner
        self.name, self.streams, self.check = inner.name, inner.streams, inner.check

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        async for batch in self.inner.batches(stream, cursor):
            yield batch
            raise SourceError("the disk went away")


async def test_a_first_import_puts_back_every_index_and_key(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
) -> None:
    summary = await run_sync(sessionmaker=sessionmaker, connector=shop(*shop_files))

    assert summary.status == "succeeded", summary.error
    assert summary.total("inserted") == 8
    assert await schema(session) == DECLARED


async def test_a_first_import_that_fails_part_way_puts_them_back(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    connector = FailsAfterOneBatch(shop(None, many_orders(tmp_path, 50), chunk_rows=20))

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector, create_customers=True)

    assert (summary.status, summary.error) == ("failed", "the disk went away")
    assert await session.scalar(select(func.count()).select_from(Order)) == 20
    assert await schema(session) == DECLARED


async def test_a_first_import_stopped_part_way_puts_them_back(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    """segbot stopping (or Ctrl-C) cancels the sync: left aside until the next sync, every
    query of customers by subscriber or of a customer's orders would scan the table."""
    connector = HangsAfterOneBatch(shop(None, many_orders(tmp_path, 50), chunk_rows=20))
    syncing = asyncio.create_task(
        run_sync(sessionmaker=sessionmaker, connector=connector, create_customers=True)
    )
    await connector.hanging.wait()

    syncing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await syncing

    assert await session.scalar(select(func.count()).select_from(Order)) == 20
    assert await schema(session) == DECLARED


async def test_a_scheduled_import_stopped_with_the_scheduler_can_be_awaited_to_put_them_back(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    """The scheduler's shutdown cancels the jobs running and does not wait for them:
    `segbot run` awaits the syncs in `running` before it lets go of the database."""
    connector = HangsAfterOneBatch(shop(None, many_orders(tmp_path, 50), chunk_rows=20))
    running: set[asyncio.Task[Any]] = set()
    job = asyncio.create_task(
        scheduled_sync(
            sessionmaker=sessionmaker, connector=connector, create_customers=True, running=running
        )
    )
    await connector.hanging.wait()
    assert running == {job}

    job.cancel()  # what AsyncIOScheduler.shutdown does to a job running
    await asyncio.gather(*running, return_exceptions=True)

    assert not running
    assert await schema(session) == DECLARED


async def test_the_next_run_puts_back_what_a_dead_run_left_aside(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    await run_sync(sessionmaker=sessionmaker, connector=shop(*shop_files))
    connection = await session.connection()
    for table in TABLES:  # as a process killed in a first import leaves them
        for index in table.indexes:
            if not index.unique:
                await connection.execute(DropIndex(index))
        if connection.dialect.name == "postgresql":
            for key in table.foreign_key_constraints:
                await connection.execute(DropConstraint(key))
    await session.commit()

    more = write_csv(tmp_path / "more.csv", ORDER_HEADER, [("o9", "c1", "2026-05-01", "5")])
    summary = await run_sync(sessionmaker=sessionmaker, connector=shop(None, more))

    assert (summary.status, summary.total("inserted")) == ("succeeded", 1)
    assert await schema(session) == DECLARED


async def test_a_key_put_back_does_to_orphans_what_its_on_delete_says(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
) -> None:
    """A customer deleted while the orders' key was aside takes its orders along when the
    key comes back, as ON DELETE CASCADE would have."""
    await run_sync(sessionmaker=sessionmaker, connector=shop(*shop_files))
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        pytest.skip("SQLite's foreign keys are never dropped")
    for key in ORDERS.foreign_key_constraints:
        await connection.execute(DropConstraint(key))
    await session.execute(delete(Customer).where(Customer.external_id == "c1"))
    await session.commit()

    await restore(session, [ORDERS])

    left = await session.scalars(select(Order.external_id).order_by(Order.external_id))
    assert list(left) == ["o3", "o4", "o5"]  # c1's o1 and o2 went with c1
    assert await schema(session) == DECLARED


async def test_a_table_being_read_keeps_its_indexes_through_a_first_import(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
) -> None:
    """Dropping an index would wait for the reader's transaction to end: the import goes
    ahead with the indexes in place instead of waiting."""
    assert await session.scalar(select(func.count()).select_from(Order)) == 0  # stays open

    summary = await run_sync(sessionmaker=sessionmaker, connector=shop(*shop_files))

    assert summary.status == "succeeded", summary.error
    await session.rollback()
    assert await session.scalar(select(func.count()).select_from(Order)) == 5
    assert await schema(session) == DECLARED


async def test_sqlite_checks_keys_again_when_a_first_import_ends(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The check is the connection's: left off, every later user of the connection would
    delete without cascading."""

    async def checks_keys(session: AsyncSession) -> bool:
        return bool(await session.scalar(text("PRAGMA foreign_keys")))

    async def fail_part_way(session: AsyncSession) -> None:
        async with filling(session, ORDERS):
            raise SourceError("the disk went away")

    async with one_connection(sessionmaker) as session:
        if session.get_bind().dialect.name != "sqlite":
            pytest.skip("SQLite's PRAGMA foreign_keys")
        async with filling(session, ORDERS):
            assert not await checks_keys(session)
        assert await checks_keys(session)

        with pytest.raises(SourceError):
            await fail_part_way(session)
        assert await checks_keys(session)
