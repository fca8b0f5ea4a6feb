"""Schedules a marketer can write that a careless scheduler gets wrong: a grace of 0 (or a
minute) on a scheduler that is never down, cron times the clocks skip or show twice on a
daylight saving night, a cron line longer than the database holds, a moment written as a
quoted number, and weekday names that are no day."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignStatus, Run, RunStatus
from broadcasts.scheduler import Decision, due, handle_due
from broadcasts.spec import CampaignFileError, parse_campaign
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from

MESSAGE = "default: {text: hi}\n"


async def scheduled(session: AsyncSession, schedule: str, *, now: datetime = NOW) -> Campaign:
    return await campaign_from(session, f"name: c\n{MESSAGE}schedule: {schedule}\n", now=now)


def mistake(schedule: str) -> str:
    with pytest.raises(CampaignFileError) as error:
        parse_campaign(f"name: c\n{MESSAGE}schedule: {schedule}\n", source="c.yaml")
    return str(error.value)


async def fired_runs(
    session: AsyncSession, campaign: Campaign, start: datetime, hours: int
) -> list[datetime]:
    """Look every 5 minutes for `hours` from `start`, as the scheduler's sync does, each
    run done before the next look; the local times of the runs it started."""
    zone = campaign.schedule_timezone
    for step in range(hours * 12):
        now = start + timedelta(minutes=5 * step)
        if (await handle_due(session, campaign=campaign, now=now)).decision is Decision.FIRE:
            campaign.status = CampaignStatus.SCHEDULED  # as the sender leaves it, run done
            await session.commit()
    runs = await session.scalars(select(Run).where(Run.status != RunStatus.MISSED).order_by(Run.id))
    return [run.scheduled_for.astimezone(ZoneInfo(zone)) for run in runs]


@pytest.mark.parametrize(
    "schedule", ['{at: "2026-11-02T12:00:30Z", grace_minutes: 0}', "{now: true, grace_minutes: 1}"]
)
async def test_a_run_started_a_minute_late_by_a_running_scheduler_is_on_time_whatever_its_grace(
    session: AsyncSession, schedule: str
) -> None:
    campaign = await scheduled(session, schedule)
    a_minute_on = datetime(2026, 11, 2, 12, 1, 31, tzinfo=UTC)  # the next sync, a second late
    assert due(campaign, a_minute_on).decision is Decision.FIRE
    assert due(campaign, a_minute_on + timedelta(minutes=2)).decision is Decision.MISSED


async def test_a_cron_time_the_clocks_skip_at_midnight_still_fires_that_day(
    session: AsyncSession,
) -> None:
    """Santiago's clocks go from 00:00 to 01:00 on Sunday 2027-09-05: that day's run comes
    at 01:00 (APScheduler's own trigger skipped the day)."""
    await add_subscribers(session, 1)
    start = datetime(2027, 9, 3, 12, tzinfo=UTC)
    campaign = await scheduled(
        session, '{cron: "0 0 * * *", timezone: America/Santiago}', now=start
    )

    runs = await fired_runs(session, campaign, start, hours=72)

    assert [run.isoformat() for run in runs] == [
        "2027-09-04T00:00:00-04:00",
        "2027-09-05T01:00:00-03:00",
        "2027-09-06T00:00:00-03:00",
    ]


async def test_a_cron_time_the_clocks_show_twice_fires_once(session: AsyncSession) -> None:
    """Madrid's clocks go back from 03:00 to 02:00 on 2027-10-31: 02:30 comes twice."""
    await add_subscribers(session, 1)
    start = datetime(2027, 10, 30, 20, tzinfo=UTC)
    campaign = await scheduled(session, '{cron: "30 2 * * *", timezone: Europe/Madrid}', now=start)

    runs = await fired_runs(session, campaign, start, hours=8)

    assert [run.isoformat() for run in runs] == ["2027-10-31T02:30:00+02:00"]
    assert await session.scalar(select(func.count()).select_from(Run)) == 1


async def test_a_cron_line_longer_than_a_campaign_holds_is_refused_when_saved() -> None:
    line = "0 " + ",".join(str(hour) for hour in range(24)) + " 1,2,3,4,5,6,7,8,9,10,11,12 * *"
    assert len(line) > 64
    assert mistake(f'{{cron: "{line}"}}').endswith(
        f"cron {line!r}: a cron line holds at most 64 characters, not {len(line)}"
    )


@pytest.mark.parametrize("at", ["1900000000", "1.9e9", "2027"])
def test_a_moment_written_as_a_quoted_number_is_refused(at: str) -> None:
    assert "a number is no at: give a date and time" in mistake(f'{{at: "{at}"}}')


@pytest.mark.parametrize(
    ("weekday", "why"),
    [
        ("monkey", "weekday 'monkey': use 0-7 (0 and 7 are Sunday) or mon..sun"),
        ("sundae", "weekday 'sundae': use 0-7 (0 and 7 are Sunday) or mon..sun"),
        ("\u0661", "a cron line is written in ASCII: digits 0-9, names, and * , - /"),
        ("\u00b2", "a cron line is written in ASCII: digits 0-9, names, and * , - /"),
    ],
)
def test_a_weekday_that_is_no_day_is_refused(weekday: str, why: str) -> None:
    assert mistake(f'{{cron: "0 10 * * {weekday}"}}').endswith(why)


async def test_a_weekday_written_in_full_is_that_day(session: AsyncSession) -> None:
    campaign = await scheduled(session, '{cron: "0 10 * * Wednesday"}')
    wednesday_ten = datetime(2026, 11, 4, 10, tzinfo=UTC)
    assert due(campaign, wednesday_ten).occurrence == wednesday_ten
