"""What the scheduler and the CRM sync call: rescoring and refreshing, each step committed.

`after_crm_sync(...)` builds the `on_synced` hook `crm_sync.worker.run_sync` takes;
`refresh_all(...)` is the scheduled job (RFM recency ages daily, activity and the ladder
move with every event, and memberships follow them); `schedule_refresh` adds it.
"""

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.metrics import SEGMENT_REFRESH_SECONDS
from crm_sync.jobs import JobScheduler
from crm_sync.worker import SyncedHook, SyncSummary
from segments.activity import ActivityRefresh, refresh_activity
from segments.changes import merged
from segments.config import SegmentsConfig
from segments.incremental import follow_changes
from segments.job_changes import changed_by_rescore, changed_by_sync
from segments.ladder import LadderRefresh, refresh_ladder
from segments.membership import MembershipRefresh, refresh_memberships
from segments.rfm.store import RfmRescore, rescore_rfm

logger = logging.getLogger(__name__)
REFRESH_JOB = "segments:refresh"


@dataclass(frozen=True, slots=True)
class SegmentsRefresh:
    rfm: RfmRescore
    activity: ActivityRefresh
    ladder: LadderRefresh
    memberships: list[MembershipRefresh]


async def rescore_customers(
    sessionmaker: async_sessionmaker[AsyncSession], *, config: SegmentsConfig, clock: Clock = utcnow
) -> tuple[RfmRescore, LadderRefresh]:
    """RFM as of now, then the ladder (CRM orders are evidence)."""
    now = clock()
    async with sessionmaker() as session:
        rfm = await rescore_rfm(
            session,
            as_of=now.date(),
            now=now,
            segment_map=config.rfm.segment_map(),
            min_customers=config.rfm.min_customers,
        )
    async with sessionmaker() as session:
        ladder = await refresh_ladder(session, now=now, config=config.ladder)
    return rfm, ladder


def after_crm_sync(
    sessionmaker: async_sessionmaker[AsyncSession], *, config: SegmentsConfig, clock: Clock = utcnow
) -> SyncedHook:
    """The hook for `run_sync(on_synced=...)`: rescore after every successful sync, then
    bring the segments that read CRM data, RFM or stages up to date for the subscribers
    the sync and the rescore changed (`segments.job_changes`)."""

    async def rescore(summary: SyncSummary) -> None:
        if summary.status == "succeeded":
            since = clock()
            rfm, _ = await rescore_customers(sessionmaker, config=config, clock=clock)
            _log_unscored(rfm)
            async with sessionmaker() as session:
                synced = await changed_by_sync(session, run_id=summary.run_id)
                rescored = await changed_by_rescore(session, since=since)
            await follow_changes(
                sessionmaker,
                changes=merged(synced, rescored),
                now=clock(),
                rfm_segments=config.rfm.segment_map().names,
            )

    return rescore


async def refresh_all(
    sessionmaker: async_sessionmaker[AsyncSession], *, config: SegmentsConfig, clock: Clock = utcnow
) -> SegmentsRefresh:
    """RFM, activity levels, ladder stages, then every saved segment's members."""
    rfm, ladder = await rescore_customers(sessionmaker, config=config, clock=clock)
    now = clock()
    async with sessionmaker() as session:
        activity = await refresh_activity(session, now=now, config=config.activity)
    memberships = await refresh_memberships(
        sessionmaker, now=now, rfm_segments=config.rfm.segment_map().names
    )
    return SegmentsRefresh(rfm, activity, ladder, memberships)


def schedule_refresh(
    scheduler: JobScheduler,
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    config: SegmentsConfig,
    clock: Clock = utcnow,
) -> str:
    """Add the periodic `refresh_all` job (never overlapping; missed runs collapse)."""
    scheduler.add_job(
        _scheduled_refresh,
        trigger="interval",
        minutes=config.refresh.refresh_every_minutes,
        id=REFRESH_JOB,
        name="Segments: RFM, activity, ladder, memberships",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        kwargs={"sessionmaker": sessionmaker, "config": config, "clock": clock},
    )
    return REFRESH_JOB


async def _scheduled_refresh(
    *, sessionmaker: async_sessionmaker[AsyncSession], config: SegmentsConfig, clock: Clock
) -> None:
    with SEGMENT_REFRESH_SECONDS.time():
        outcome = await refresh_all(sessionmaker, config=config, clock=clock)
    _log_unscored(outcome.rfm)
    failed = [refresh.segment for refresh in outcome.memberships if refresh.error]
    logger.info(
        "segments refreshed: %d customers scored, %d segments, %d failed%s",
        outcome.rfm.customers,
        len(outcome.memberships),
        len(failed),
        f" ({', '.join(failed)})" if failed else "",
    )


def _log_unscored(rfm: RfmRescore) -> None:
    """A job has no one to tell but the log that RFM scored nobody, and why."""
    if rfm.too_few is not None:
        logger.warning("RFM not scored: %s (rfm.min_customers)", rfm.too_few)
