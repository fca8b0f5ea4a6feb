"""Schedules on a controlled clock: each kind fires at its instant, late runs are missed."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Campaign, CampaignStatus, Run, RunStatus
from broadcasts.scheduler import Decision, due, handle_due, next_occurrence, start_instant
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from

MESSAGE = "default: {text: hi}\n"


async def scheduled(session: AsyncSession, schedule: str, name: str = "c") -> Campaign:
    return await campaign_from(session, f"name: {name}\n{MESSAGE}schedule: {schedule}\n")


async def test_a_one_off_fires_at_its_moment_in_its_timezone(session: AsyncSession) -> None:
    campaign = await scheduled(
        session, '{at: "2026-11-03T10:00:00", timezone: Europe/Madrid, grace_minutes: 30}'
    )
    moment = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)  # 10:00 in Madrid (CET)
    assert start_instant(campaign) == moment
    assert next_occurrence(campaign, NOW) == moment
    assert due(campaign, moment - timedelta(seconds=1)).decision is Decision.WAIT
    assert due(campaign, moment) == due(campaign, moment + timedelta(minutes=30))
    assert due(campaign, moment).decision is Decision.FIRE
    assert due(campaign, moment + timedelta(minutes=31)).decision is Decision.MISSED


async def test_cron_fires_every_occurrence_and_only_once(session: AsyncSession) -> None:
    await add_subscribers(session, 3)
    campaign = await scheduled(session, '{cron: "0 10 * * *", timezone: Asia/Tokyo}')
    first = datetime(2026, 11, 3, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, the day after NOW
    assert next_occurrence(campaign, NOW) == first
    fired = await handle_due(session, campaign=campaign, now=first + timedelta(seconds=2))
    assert fired.decision is Decision.FIRE
    assert fired.occurrence == first
    assert due(campaign, first + timedelta(minutes=5)).decision is Decision.WAIT  # done already
    assert next_occurrence(campaign, first) == first + timedelta(days=1)


async def test_a_local_time_run_starts_in_the_earliest_timezone(session: AsyncSession) -> None:
    campaign = await scheduled(session, '{local: "09:00", day: 2026-11-05}')
    # 09:00 on the 5th arrives first at UTC+14: 19:00 UTC on the 4th.
    assert start_instant(campaign) == datetime(2026, 11, 4, 19, 0, tzinfo=UTC)


async def test_a_run_missed_past_the_grace_period_is_marked_not_sent(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await add_subscribers(session, 3)
    campaign = await scheduled(session, '{at: "2026-11-02T13:00:00Z", grace_minutes: 60}')
    three_hours_late = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
    verdict = await handle_due(session, campaign=campaign, now=three_hours_late)
    assert verdict.decision is Decision.MISSED
    assert campaign.status is CampaignStatus.MISSED
    runs = (await session.scalars(select(Run))).all()
    assert [(run.status, run.scheduled_for) for run in runs] == [
        (RunStatus.MISSED, datetime(2026, 11, 2, 13, 0, tzinfo=UTC))
    ]


async def test_a_missed_cron_occurrence_keeps_the_schedule(session: AsyncSession) -> None:
    campaign = await scheduled(session, '{cron: "0 * * * *", grace_minutes: 10}')
    verdict = await handle_due(session, campaign=campaign, now=NOW + timedelta(minutes=150))
    assert verdict.decision is Decision.MISSED
    assert verdict.occurrence == NOW + timedelta(hours=2)  # only the latest is reported
    assert campaign.status is CampaignStatus.SCHEDULED
    late_but_in_grace = NOW + timedelta(hours=3, minutes=5)
    assert due(campaign, late_but_in_grace).decision is Decision.FIRE


async def test_two_schedulers_looking_at_once_start_one_run(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A standby taking over, or the wizard's "send now", while the leader fires."""
    async with sessionmaker() as setup:
        await add_subscribers(setup, 3)
        campaign_id = (await scheduled(setup, '{at: "2026-11-02T12:00:00"}')).id
    moment = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    async with sessionmaker() as first, sessionmaker() as second:
        seen_by_first = await first.get(Campaign, campaign_id)
        seen_by_second = await second.get(Campaign, campaign_id)
        assert seen_by_first is not None
        assert seen_by_second is not None
        fired = await handle_due(first, campaign=seen_by_first, now=moment)
        again = await handle_due(second, campaign=seen_by_second, now=moment)
    assert fired.decision is Decision.FIRE
    assert again.decision is Decision.WAIT
    async with sessionmaker() as check:
        runs = (await check.scalars(select(Run).where(Run.campaign_id == campaign_id))).all()
    assert len(runs) == 1
