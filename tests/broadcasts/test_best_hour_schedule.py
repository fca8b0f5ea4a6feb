"""The best-hour schedule and the scheduler's jobs, on a clock the test controls."""

from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.config import BestHourConfig
from broadcasts.crontab import WallClockCron
from broadcasts.models import Delivery, Run, ScheduleKind
from broadcasts.scheduler import CampaignScheduler, Decision, handle_due, start_instant
from broadcasts.spec import CampaignFileError, parse_campaign
from core.models import EventType, Subscriber
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.broadcasts.test_best_time import log

CONFIG = BestHourConfig(days=30, min_events=3, fallback_hour=18)
BEST_HOUR = """
name: evening
audience: [{segment: night_owls, text: Hi owl}]
default: {text: Hi}
schedule: {best_hour: true, day: 2026-11-05, timezone: America/New_York}
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_best_hour_sends_each_target_at_its_own_hour_in_local_time(
    session: AsyncSession,
) -> None:
    owls = await add_subscribers(session, 3, timezone="America/New_York", attributes={"owl": 1})
    await add_subscribers(session, 2, first_id=10, timezone="Europe/Madrid")
    await save_segment(session, name="night_owls", rule_text="attr.owl = 1", now=NOW)
    late = datetime(2026, 10, 28, 3, 0, tzinfo=UTC)  # 23:00 in New York (EDT)
    for owl in owls:
        await log(session, owl, EventType.LINK_CLICK, late, late - timedelta(days=2))
    campaign = await campaign_from(session, BEST_HOUR)
    assert campaign.schedule_kind is ScheduleKind.BEST_HOUR
    start = start_instant(campaign)
    assert start == datetime(2026, 11, 4, 10, 0, tzinfo=UTC)  # the 5th begins at UTC+14

    verdict = await handle_due(session, campaign=campaign, now=start, best_hour=CONFIG)

    assert verdict.decision is Decision.FIRE
    rows = await session.execute(
        select(Subscriber.timezone, Delivery.not_before).join(
            Delivery, Delivery.subscriber_id == Subscriber.id
        )
    )
    assert set(rows.all()) == {
        # 23:00 on the 5th in New York (EST by then): the owls' best hour.
        ("America/New_York", datetime(2026, 11, 6, 4, 0, tzinfo=UTC)),
        # Too little data for everyone else: the fallback, 18:00 in Madrid.
        ("Europe/Madrid", datetime(2026, 11, 5, 17, 0, tzinfo=UTC)),
    }


def test_a_best_hour_schedule_needs_its_day() -> None:
    with pytest.raises(CampaignFileError, match="best_hour needs the day"):
        parse_campaign("name: x\ndefault: {text: hi}\nschedule: {best_hour: true}\n")
    with pytest.raises(CampaignFileError, match="exactly one of now, at, cron, local, best_hour"):
        parse_campaign("name: x\ndefault: {text: hi}\nschedule: {now: true, best_hour: true}\n")


async def test_the_scheduler_sets_each_job_to_its_instant_and_fires_on_time(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 2)
    await save_segment(session, name="night_owls", rule_text="lang = xx", now=NOW)
    at = await campaign_from(
        session, 'name: at\ndefault: {text: a}\nschedule: {at: "2026-11-03T08:00:00Z"}\n'
    )
    cron = await campaign_from(
        session, 'name: cron\ndefault: {text: c}\nschedule: {cron: "30 9 * * 1"}\n'
    )
    local = await campaign_from(
        session, 'name: local\ndefault: {text: l}\nschedule: {local: "09:00", day: 2026-11-05}\n'
    )
    best = await campaign_from(session, BEST_HOUR)
    clock, woken = Clock(NOW), []
    jobs = AsyncIOScheduler(timezone=UTC)
    campaigns = CampaignScheduler(
        sessionmaker, jobs, on_run_started=lambda: woken.append(1), clock=clock, best_hour=CONFIG
    )

    await campaigns.sync()

    triggers = {job.id: job.trigger for job in jobs.get_jobs()}
    assert isinstance(triggers[f"campaign:{cron.id}"], WallClockCron)
    dates = {
        name: trigger.run_date
        for name, trigger in triggers.items()
        if isinstance(trigger, DateTrigger)
    }
    assert dates == {
        f"campaign:{at.id}": datetime(2026, 11, 3, 8, 0, tzinfo=UTC),
        f"campaign:{local.id}": datetime(2026, 11, 4, 19, 0, tzinfo=UTC),
        f"campaign:{best.id}": datetime(2026, 11, 4, 10, 0, tzinfo=UTC),
    }
    clock.now = datetime(2026, 11, 3, 8, 0, 1, tzinfo=UTC)
    assert (await campaigns.fire(at.id)).decision is Decision.FIRE
    assert (await campaigns.fire(best.id)).decision is Decision.WAIT  # not its day yet
    assert woken == [1]
    runs = (await session.scalars(select(Run.campaign_id))).all()
    assert runs == [at.id]
