"""Running configured connectors: on a schedule (APScheduler) and on demand.

The bot's runtime calls `schedule_syncs(scheduler, sessionmaker=..., config=...)` once at
start; `segbot crm sync` and admin commands call `sync_configured`. Stopping the scheduler
cancels the syncs running; whoever stops it awaits them (`running`), as a first import
stopped part way builds back the indexes it set aside before it ends (crm_sync.bulk_load).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from crm_sync.config import CrmConfig
from crm_sync.connectors import Connector, build_connector
from crm_sync.worker import (
    Progress,
    SyncAlreadyRunningError,
    SyncedHook,
    SyncSummary,
    no_hook,
    run_sync,
)

logger = logging.getLogger(__name__)
JOB_PREFIX = "crm-sync:"


class JobScheduler(Protocol):
    """What segbot uses of APScheduler's AsyncIOScheduler."""

    def add_job(
        self, func: Callable[..., Awaitable[object]], trigger: str, **options: object
    ) -> object: ...


def schedule_syncs(
    scheduler: JobScheduler,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    config: CrmConfig,
    on_synced: SyncedHook = no_hook,
    clock: Clock = utcnow,
    environ: Mapping[str, str] | None = None,
    running: set["asyncio.Task[Any]"] | None = None,
) -> list[str]:
    """Add an interval job for each connector with `every_minutes`; returns the job ids.
    Each run's task is in `running` while it runs.

    Connectors are built now, so a missing secret fails at start, not an hour later.
    Jobs never overlap (max_instances=1) and missed runs collapse into one.
    """
    job_ids = []
    for connector_config in config.connectors:
        if connector_config.every_minutes is None:
            continue
        connector = build_connector(connector_config, crm=config, environ=environ, clock=clock)
        job_id = JOB_PREFIX + connector.name
        scheduler.add_job(
            scheduled_sync,
            trigger="interval",
            minutes=connector_config.every_minutes,
            id=job_id,
            name=f"CRM sync: {connector.name}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            kwargs={
                "sessionmaker": sessionmaker,
                "connector": connector,
                "on_synced": on_synced,
                "clock": clock,
                "create_customers": connector_config.create_customers,
                "running": running,
            },
        )
        job_ids.append(job_id)
    return job_ids


async def scheduled_sync(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    connector: Connector,
    on_synced: SyncedHook = no_hook,
    clock: Clock = utcnow,
    create_customers: bool = False,
    running: set["asyncio.Task[Any]"] | None = None,
) -> SyncSummary | None:
    """One scheduled run, logged; a connector still busy with the previous run is skipped."""
    task = asyncio.current_task()
    if running is not None and task is not None:
        running.add(task)
        task.add_done_callback(running.discard)
    try:
        summary = await run_sync(
            sessionmaker=sessionmaker,
            connector=connector,
            trigger="schedule",
            on_synced=on_synced,
            clock=clock,
            create_customers=create_customers,
        )
    except SyncAlreadyRunningError:
        logger.info("crm sync %s skipped: the previous run has not finished", connector.name)
        return None
    if summary.error is not None:
        logger.warning(
            "crm sync %s (run %s) failed: %s; kept %s",
            connector.name,
            summary.run_id,
            summary.error,
            summary.kept() or "nothing",
        )
        return summary
    logger.info(
        "crm sync %s %s: %d read, %d inserted, %d updated, %d rejected",
        connector.name,
        summary.status,
        summary.total("read"),
        summary.total("inserted"),
        summary.total("updated"),
        summary.total("rejected"),
    )
    return summary


async def sync_configured(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    config: CrmConfig,
    names: list[str] | None = None,
    full: bool = False,
    on_synced: SyncedHook = no_hook,
    clock: Clock = utcnow,
    progress: Progress | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[SyncSummary]:
    """Run the named connectors (all when None) one after another, on demand."""
    chosen = [config.connector(name) for name in names] if names else list(config.connectors)
    summaries = []
    for connector_config in chosen:
        connector = build_connector(connector_config, crm=config, environ=environ, clock=clock)
        summaries.append(
            await run_sync(
                sessionmaker=sessionmaker,
                connector=connector,
                trigger="manual",
                full=full,
                on_synced=on_synced,
                clock=clock,
                progress=progress,
                create_customers=connector_config.create_customers,
            )
        )
    return summaries
