"""The worker's guarantees: one run per connector, a killed run abandoned at once, a run
taken over stopping, the after-sync hook, and scheduling with APScheduler."""

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import func, make_url, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from core.db import create_engine, create_sessionmaker
from crm_sync.config import load_crm_config
from crm_sync.connectors import Batch, Cursor, FilesConnector
from crm_sync.fields import Stream
from crm_sync.jobs import schedule_syncs, scheduled_sync, sync_configured
from crm_sync.models import Order, SyncRun
from crm_sync.run_lock import Lock, connector_lock
from crm_sync.worker import SyncAlreadyRunningError, SyncSummary, run_sync
from tests.crm_sync.shop import (
    RULES,
    T0,
    SteppingClock,
    selling,
)
from tests.polling import until

ROOT = Path(__file__).resolve().parents[2]


def shop(shop_files: tuple[Path, Path]) -> FilesConnector:
    return FilesConnector(name="shop", customers=shop_files[0], orders=shop_files[1], rules=RULES)


async def a_running_run(session: AsyncSession) -> SyncRun:
    run = SyncRun(
        connector="shop",
        trigger="schedule",
        status="running",
        started_at=T0,
        heartbeat_at=T0,
        read_count=3,
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
    live = await a_running_run(session)
    async with connector_lock(sessionmaker, "shop") as lock:  # as the live run's process
        assert lock is Lock.HELD
        with pytest.raises(
            SyncAlreadyRunningError,
            match=rf"'shop' is already syncing: run #{live.id}, started 2026-11-02 09:00 UTC, "
            r"3 rows read by 09:00:00 UTC",
        ):
            await run_sync(sessionmaker=sessionmaker, connector=shop(shop_files), clock=clock)
        # A scheduled run finding the connector busy skips quietly.
        skipped = await scheduled_sync(
            sessionmaker=sessionmaker, connector=shop(shop_files), clock=clock
        )
        assert skipped is None
    await session.refresh(live)
    assert live.status == "running"


async def test_a_run_whose_process_was_killed_is_abandoned_at_once_by_the_next(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    clock: SteppingClock,
) -> None:
    """No heartbeat to wait out: the lock the dead run held went with its process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.crm_sync.hanging_sync",
        database_url,
        str(shop_files[0]),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(120):  # only so that a broken helper cannot hang the suite
            assert await process.stdout.readline() == b"stored\n"
        with pytest.raises(SyncAlreadyRunningError, match=r"1 row read"):  # it is alive
            await run_sync(sessionmaker=sessionmaker, connector=shop(shop_files), clock=clock)
    finally:
        process.kill()  # SIGKILL: no cleanup, no chance to record anything
        await process.wait()

    async def lock_let_go() -> bool:  # PostgreSQL lets go once it sees the connection end
        async with connector_lock(sessionmaker, "shop") as lock:
            return lock is not Lock.BUSY

    await until(lock_let_go, what="the killed process's lock to go")
    summary = await run_sync(sessionmaker=sessionmaker, connector=shop(shop_files), clock=clock)

    assert summary.status == "succeeded", summary.error
    dead = await session.scalar(select(SyncRun).where(SyncRun.id != summary.run_id))
    assert dead is not None
    assert (dead.status, dead.error, dead.read_count) == (
        "abandoned",
        "its process ended before the run did",
        1,
    )


class PausesAfterOneBatch:
    """The shop's files, pausing after the first stored batch until `go` is set."""

    def __init__(self, inner: FilesConnector) -> None:
        self.inner = inner
        self.name, self.streams, self.check = inner.name, inner.streams, inner.check
        self.stored, self.go = asyncio.Event(), asyncio.Event()

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        async for batch in self.inner.batches(stream, cursor):
            yield batch
            if not self.stored.is_set():
                self.stored.set()
                await self.go.wait()


async def test_a_run_taken_over_meanwhile_stops_at_its_next_batch(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    clock: SteppingClock,
) -> None:
    """What happens when a run's lock ends with its database connection while it goes on,
    and another process takes over: the run must not write another batch."""
    connector = PausesAfterOneBatch(shop(shop_files))
    syncing = asyncio.create_task(
        run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)
    )
    await connector.stored.wait()
    await session.execute(update(SyncRun).values(status="abandoned"))
    await session.commit()
    connector.go.set()

    summary = await syncing

    assert summary.status == "failed"
    assert summary.error == (
        f"run #{summary.run_id} was marked abandoned by another process while it went on "
        "(its lock ended with the database connection that held it); it stops here"
    )
    run = await session.get(SyncRun, summary.run_id, populate_existing=True)
    assert run is not None
    assert (run.status, run.read_count) == ("abandoned", 3)  # as the first batch left it
    assert await session.scalar(select(func.count()).select_from(Order)) == 0


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
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        await run_sync(sessionmaker=sessionmaker, connector=selling(tmp_path, 120), clock=clock)
        assert await planned_rows(engine, "orders") == 120
        assert await planned_rows(engine, "customers") == 20

        await run_sync(sessionmaker=sessionmaker, connector=selling(tmp_path, 125), clock=clock)
        assert await planned_rows(engine, "orders") == 120  # five more: not due yet
    finally:
        await engine.dispose()
