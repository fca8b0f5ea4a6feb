"""SQLite: a job that stages rows in a temporary table, reads the database and then writes
it is never locked out by a write that came in between (core.db: the driver's BEGIN is
BEGIN IMMEDIATE). With a deferred BEGIN the staging write took no lock on the database,
so the job read it first, and its first write failed at once with "database is locked"
(SQLITE_BUSY_SNAPSHOT) whenever anyone had committed since: the RFM rescore, the segment
refresh and the CRM import all work this way, and met the running bot in `segbot demo`.
"""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import BigInteger, Column, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.frames import fill_temporary, temporary_table
from crm_sync.models import Customer

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
STAGED = temporary_table("staging_test", "row", Column("value", BigInteger))


@pytest.fixture(autouse=True)
def sqlite_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's write lock")


def customer(external_id: str) -> Customer:
    return Customer(
        source="shop", external_id=external_id, attributes={}, created_at=NOW, updated_at=NOW
    )


async def test_a_job_that_staged_rows_then_read_can_still_write(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as job:
        await fill_temporary(job, STAGED, [(1, 10), (2, 20)])  # its transaction's first write
        assert await job.scalar(select(func.count(Customer.id))) == 0  # then it reads

        async def another_writer() -> None:
            async with sessionmaker() as other:
                other.add(customer("c1"))
                await other.commit()

        other = asyncio.create_task(another_writer())
        await asyncio.wait({other}, timeout=0.5)  # it commits now, or waits for the job
        job.add(customer("c2"))
        await job.commit()  # no "database is locked"
        await other
    async with sessionmaker() as session:
        names = await session.scalars(select(Customer.external_id).order_by(Customer.external_id))
        assert list(names.all()) == ["c1", "c2"]
