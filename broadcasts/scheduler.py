"""When campaigns run. The campaign table is the truth: APScheduler jobs are rebuilt from
it on start and re-synced every minute (`sync_seconds`: a campaign saved from the CLI of
another process is picked up), and nothing is pickled into a job store.

Schedules: now, at a moment, cron (each occurrence a new run), a local time on a day
(the run starts when that time comes in the earliest timezone; each delivery waits for
its subscriber's own clock), and the best hour on a day (the run starts when the day
begins in the earliest timezone; the planner picks each target's best hour then, and
each delivery waits for that hour on its subscriber's own clock). An occurrence is
fired only within its grace period: one missed during downtime starts on boot if still
within it, else is recorded as missed (the campaign, or for cron just that occurrence's
run) and logged — never sent late.
"""

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts import crontab
from broadcasts.config import DEFAULT_BEST_HOUR, BestHourConfig
from broadcasts.local_time import local_run_start
from broadcasts.models import Campaign, CampaignStatus, Run, RunStatus, ScheduleKind
from broadcasts.planner import plan_run
from broadcasts.schedule_spec import grace, missed
from core.clock import Clock, utcnow
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.saved import RfmNames

logger = logging.getLogger(__name__)
SYNC_SECONDS = 60
_JOB_PREFIX = "campaign:"


class Decision(enum.StrEnum):
    WAIT = "wait"
    FIRE = "fire"
    MISSED = "missed"


@dataclass(frozen=True, slots=True)
class Due:
    decision: Decision
    occurrence: datetime | None = None


def start_instant(campaign: Campaign) -> datetime | None:
    """When a one-off campaign's run starts (None for cron and manual campaigns)."""
    if campaign.schedule_kind is ScheduleKind.NOW:
        return campaign.created_at
    if campaign.schedule_kind is ScheduleKind.AT:
        return campaign.run_at
    day = campaign.schedule_day
    if day is None:
        return None
    if campaign.schedule_kind is ScheduleKind.LOCAL and campaign.local_time:
        return local_run_start(day, campaign.local_time)
    if campaign.schedule_kind is ScheduleKind.BEST_HOUR:
        return local_run_start(day, None)
    return None


def cron_trigger(campaign: Campaign) -> crontab.WallClockCron:
    if campaign.cron is None:
        raise ValueError(f"campaign {campaign.name!r} has no cron schedule")
    return crontab.trigger(campaign.cron, timezone=campaign.schedule_timezone)


def due(campaign: Campaign, now: datetime) -> Due:
    """Whether the campaign has an occurrence to fire at `now`: the latest one not yet
    handled, fired within the grace period, else missed."""
    if campaign.status is not CampaignStatus.SCHEDULED:
        return Due(Decision.WAIT)
    occurrence = _latest_unhandled(campaign, now)
    if occurrence is None:
        return Due(Decision.WAIT)
    if not missed(occurrence, now, grace_minutes=campaign.grace_minutes):
        return Due(Decision.FIRE, occurrence)
    return Due(Decision.MISSED, occurrence)


def _latest_unhandled(campaign: Campaign, now: datetime) -> datetime | None:
    if campaign.schedule_kind is not ScheduleKind.CRON:
        start = start_instant(campaign)
        return start if start is not None and start <= now else None
    trigger = cron_trigger(campaign)
    since = campaign.last_fired_at or campaign.created_at
    latest = None
    moment = trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
    while moment is not None and moment <= now:
        latest = moment
        moment = trigger.get_next_fire_time(moment, moment)
    return latest


def next_occurrence(campaign: Campaign, after: datetime) -> datetime | None:
    """The next instant the campaign's schedule fires, after `after`."""
    if campaign.schedule_kind is ScheduleKind.CRON:
        soonest = after + timedelta(microseconds=1)
        moment: datetime | None = cron_trigger(campaign).get_next_fire_time(None, soonest)
        return moment
    start = start_instant(campaign)
    return start if start is not None and start > after else None


async def handle_due(
    session: AsyncSession,
    *,
    campaign: Campaign,
    now: datetime,
    rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
    best_hour: BestHourConfig = DEFAULT_BEST_HOUR,
) -> Due:
    """Fire or mark missed whatever occurrence is due for the campaign; commits."""
    verdict = due(campaign, now)
    if verdict.occurrence is None:
        return verdict
    if not await _claim_occurrence(session, campaign.id, verdict.occurrence):
        await session.rollback()
        return Due(Decision.WAIT)  # another process (or sync) handled this occurrence
    campaign.last_fired_at = verdict.occurrence
    if verdict.decision is Decision.FIRE:
        await plan_run(
            session,
            campaign=campaign,
            now=now,
            scheduled_for=verdict.occurrence,
            rfm_segments=rfm_segments,
            best_hour=best_hour,
        )
        return verdict
    logger.warning(
        "campaign %s missed its run at %s (grace %s min): not sent",
        campaign.id,
        verdict.occurrence.isoformat(),
        campaign.grace_minutes,
    )
    session.add(
        Run(
            campaign_id=campaign.id,
            status=RunStatus.MISSED,
            scheduled_for=verdict.occurrence,
            started_at=now,
            finished_at=now,
        )
    )
    if campaign.schedule_kind is not ScheduleKind.CRON:
        campaign.status = CampaignStatus.MISSED
    campaign.updated_at = now
    await session.commit()
    return verdict


async def _claim_occurrence(session: AsyncSession, campaign_id: int, occurrence: datetime) -> bool:
    """Take this occurrence for this transaction, or learn that someone already has.

    The guarded UPDATE locks the campaign row: a second scheduler (a standby that just took
    over, the admin wizard's "send now") waits for the first to commit, then finds the
    occurrence taken. A run therefore starts once, however many processes look."""
    claimed = await session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SCHEDULED,
            or_(Campaign.last_fired_at.is_(None), Campaign.last_fired_at < occurrence),
        )
        .values(last_fired_at=occurrence)
        .execution_options(synchronize_session=False)
    )
    return bool(claimed.rowcount)  # type: ignore[attr-defined]


class CampaignScheduler:
    """APScheduler jobs for scheduled campaigns; `on_run_started` wakes the sender."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        scheduler: AsyncIOScheduler,
        *,
        on_run_started: Callable[[], None],
        clock: Clock = utcnow,
        rfm_segments: RfmNames = DEFAULT_SEGMENT_MAP.names,
        best_hour: BestHourConfig = DEFAULT_BEST_HOUR,
        sync_seconds: float = SYNC_SECONDS,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._sync_seconds = sync_seconds
        self._scheduler = scheduler
        self._on_run_started = on_run_started
        self._clock = clock
        self._rfm_segments = rfm_segments
        self._best_hour = best_hour

    async def start(self) -> None:
        """Catch up on what came due while segbot was down, then schedule the rest."""
        await self.sync()
        self._scheduler.add_job(
            self.sync,
            IntervalTrigger(seconds=self._sync_seconds),
            id="campaigns:sync",
            replace_existing=True,
        )

    async def sync(self) -> None:
        """Fire what is due, and make the jobs match the campaign table."""
        async with self._sessionmaker() as session:
            scheduled = (
                await session.scalars(
                    select(Campaign.id).where(Campaign.status == CampaignStatus.SCHEDULED)
                )
            ).all()
        wanted: set[str] = set()
        for campaign_id in scheduled:
            try:
                await self._sync_one(campaign_id, wanted)
            except Exception:  # one campaign that cannot start must not hold up the others
                logger.exception(
                    "campaign %s could not be started or scheduled; tried again in %g s",
                    campaign_id,
                    self._sync_seconds,
                )
        for job in self._scheduler.get_jobs():
            if job.id.startswith(_JOB_PREFIX) and job.id not in wanted:
                job.remove()

    async def _sync_one(self, campaign_id: int, wanted: set[str]) -> None:
        """Fire what is due of one campaign and schedule its next occurrence (its job's id
        added to `wanted`)."""
        await self.fire(campaign_id)
        async with self._sessionmaker() as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None or campaign.status is not CampaignStatus.SCHEDULED:
                return
            moment = next_occurrence(campaign, self._clock())
            if moment is not None:
                wanted.add(self._job_id(campaign_id))
                self._schedule(campaign, moment)

    async def fire(self, campaign_id: int) -> Due:
        async with self._sessionmaker() as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None:
                return Due(Decision.WAIT)
            verdict = await handle_due(
                session,
                campaign=campaign,
                now=self._clock(),
                rfm_segments=self._rfm_segments,
                best_hour=self._best_hour,
            )
        if verdict.decision is Decision.FIRE:
            self._on_run_started()
        return verdict

    def _schedule(self, campaign: Campaign, moment: datetime) -> None:
        recurring = campaign.schedule_kind is ScheduleKind.CRON
        self._scheduler.add_job(
            self.fire,
            cron_trigger(campaign) if recurring else DateTrigger(run_date=moment),
            args=[campaign.id],
            id=self._job_id(campaign.id),
            replace_existing=True,
            misfire_grace_time=int(grace(campaign.grace_minutes).total_seconds()),
        )

    @staticmethod
    def _job_id(campaign_id: int) -> str:
        return f"{_JOB_PREFIX}{campaign_id}"
