"""On PostgreSQL a sync that wrote much of a table vacuums it, as autovacuum would (late,
or never where it is off); a sync that changed little leaves that to autovacuum."""

from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations
from core.db import create_engine, create_sessionmaker
from crm_sync.worker import run_sync
from tests.crm_sync.shop import SteppingClock, selling


async def vacuums(engine: AsyncEngine) -> dict[str, int]:
    """How many times the orders and the customers were vacuumed by hand."""
    async with engine.connect() as connection:
        counted = await connection.execute(
            text(
                "SELECT relname, vacuum_count FROM pg_stat_user_tables"
                " WHERE relname IN ('orders', 'customers')"
            )
        )
        return {str(table): int(count) for table, count in counted.all()}


async def test_a_sync_that_wrote_much_vacuums_what_it_wrote(
    fresh_database_url: str, tmp_path: Path, clock: SteppingClock
) -> None:
    if make_url(fresh_database_url).get_backend_name() != "postgresql":
        pytest.skip("SQLite reuses the pages it frees")
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        await run_sync(sessionmaker=sessionmaker, connector=selling(tmp_path, 120), clock=clock)
        assert await vacuums(engine) == {"orders": 1, "customers": 1}

        summary = await run_sync(
            sessionmaker=sessionmaker, connector=selling(tmp_path, 125), clock=clock
        )
        assert (summary.status, summary.total("inserted")) == ("succeeded", 5)
        assert await vacuums(engine) == {"orders": 1, "customers": 1}  # five more: not due
    finally:
        await engine.dispose()
