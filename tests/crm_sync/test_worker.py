"""The worker's guarantees: one run per connector, abandoned runs, the after-sync hook,
and scheduling with APScheduler."""

from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from core.db import create_engine, create_sessionmaker
from crm_sync.config import load_crm_config
from crm_sync.connectors import FilesConnector
from crm_sync.jobs import schedule_syncs, scheduled_sync, sync_configured
from crm_sync.models import SyncRun
from crm_sync.worker import SyncAlreadyRunningError, SyncSummary, run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    RULES,
    T0,
    SteppingClock,
    write_csv,
)


def shop(shop_files: tuple[Path, Path]) -> FilesConnector:
    return FilesConnector(name="shop", customers=shop_files[0], orders=shop_files[1], rules=RULES)


async def a_running_run(session: AsyncSession, *, heartbeat_minutes_ago: int) -> SyncRun:
    beat = T0 - timedelta(minutes=heartbeat_minutes_ago)
    run = SyncRun(
        connector="shop",
        trigger="schedule",
        status="running",
        started_at=beat,
        heartbeat_at=beat,
        details={},
        cursor_before={},
        cursor_after={},
    )
    session.add(run)
    await session.commit()
    return run


async def test_one_run_per_connector_at_a_time(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    clock: SteppingClock,
) -> None:
    await a_running_run(session, heartbeat_minutes_ago=1)
    with pytest.raises(SyncAlreadyRunningError, match="'shop' is already syncing"):
        await run_sync(sessionmaker=sessionmaker, connector=shop(shop_files), clock=clock)
    # A scheduled run finding the connector busy skips quietly.
    skipped = await scheduled_sync(
        sessionmaker=sessionmaker, connector=shop(shop_files), clock=clock
    )
    assert skipped is None


async def test_a_run_whose_worker_died_is_abandoned_and_the_next_one_proceeds(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    clock: SteppingClock,
) -> None:
    dead = await a_running_run(session, heartbeat_minutes_ago=45)
    summary = await run_sync(
        sessionmaker=sessionmaker,
        connector=shop(shop_files),
        clock=clock,
        stale_after=timedelta(minutes=30),
    )
    assert summary.status == "succeeded"
    await session.refresh(dead)
    assert (dead.status, dead.finished_at is not None) == ("abandoned", True)


async def test_the_hook_runs_after_a_successful_sync_only(
    sessionmaker: async_sessionmaker[AsyncSession], shop_files: tuple[Path, Path], tmp_path: Path
) -> None:
    seen: list[SyncSummary] = []

    async def rescore(summary: SyncSummary) -> None:
        seen.append(summary)

    done = await run_sync(sessionmaker=sessionmaker, connector=shop(shop_files), on_synced=rescore)
    missing = FilesConnector(name="gone", customers=tmp_path / "nope.csv", orders=None, rules=RULES)
    failed = await run_sync(sessionmaker=sessionmaker, connector=missing, on_synced=rescore)

    assert [s.run_id for s in seen] == [done.run_id]
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith("cannot read")
    assert "nope.csv" in failed.error


async def test_a_failing_hook_does_not_fail_the_recorded_sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
) -> None:
    async def broken(summary: SyncSummary) -> None:
        raise RuntimeError("segments are down")

    summary = await run_sync(
        sessionmaker=sessionmaker, connector=shop(shop_files), on_synced=broken
    )
    assert summary.status == "succeeded"
    assert await session.scalar(select(SyncRun.status)) == "succeeded"


async def test_configured_connectors_are_scheduled_and_run_on_demand(
    sessionmaker: async_sessionmaker[AsyncSession], shop_files: tuple[Path, Path]
) -> None:
    config = load_crm_config(
        {
            "crm": {
                "default_region": "ES",
                "connectors": [
                    {
                        "name": "shop",
                        "type": "files",
                        "customers": str(shop_files[0]),
                        "orders": str(shop_files[1]),
                        "every_minutes": 15,
                    },
                    {"name": "manual", "type": "files", "orders": str(shop_files[1])},
                ],
            }
        }
    )
    scheduler = AsyncIOScheduler()
    assert schedule_syncs(scheduler, sessionmaker=sessionmaker, config=config) == ["crm-sync:shop"]
    (job,) = scheduler.get_jobs()
    assert (job.id, job.trigger.interval) == ("crm-sync:shop", timedelta(minutes=15))
    assert job.max_instances == 1

    summaries = await sync_configured(sessionmaker=sessionmaker, config=config, names=["shop"])
    assert [(s.connector, s.status) for s in summaries] == [("shop", "succeeded")]


async def planned_rows(engine: AsyncEngine, table: str) -> float:
    """The rows PostgreSQL's planner last counted in `table` (-1: never counted)."""
    async with engine.connect() as connection:
        counted = await connection.scalar(
            text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"),
            {"table": table},
        )
    return float(counted)


async def test_a_sync_that_wrote_much_renews_the_planner_statistics(
    fresh_database_url: str, tmp_path: Path, clock: SteppingClock
) -> None:
    """Audience queries are planned on statistics that autovacuum gathers late, or never
    where it is off: a sync that grew a table past autovacuum's own rule analyses it, and
    a sync that changed little leaves the statistics as they are."""
    if make_url(fresh_database_url).get_backend_name() != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    customers = write_csv(
        tmp_path / "customers.csv",
        CUSTOMER_HEADER,
        [(f"c{n}", f"Customer {n}", "", "") for n in range(20)],
    )
    orders = [
        (f"o{n}", f"c{n % 20}", "2026-01-10T10:00:00Z", "10", "EUR", "completed")
        for n in range(125)
    ]

    def shop_selling(sold: int) -> FilesConnector:
        sales = write_csv(tmp_path / "orders.csv", ORDER_HEADER, orders[:sold])
        return FilesConnector(name="shop", customers=customers, orders=sales, rules=RULES)

    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        await run_sync(sessionmaker=sessionmaker, connector=shop_selling(120), clock=clock)
        assert await planned_rows(engine, "orders") == 120
        assert await planned_rows(engine, "customers") == 20

        await run_sync(sessionmaker=sessionmaker, connector=shop_selling(125), clock=clock)
        assert await planned_rows(engine, "orders") == 120  # five more: not due yet
    finally:
        await engine.dispose()
