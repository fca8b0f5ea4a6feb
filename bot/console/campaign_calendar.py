"""The campaigns' calendar: a month as weeks of days (Monday first), each day with the
campaigns that go out on it, built on the server.

A campaign is on the days its runs were scheduled for, and, while it is scheduled, on the
days its schedule will fire in the month: its moment (`at`), its day (`local`,
`best_hour`), the day it was saved (`now`), each day a cron line fires on. Days are in
the schedule's own timezone, as the marketer wrote it. A campaign sent by hand only
(`manual`) is on the days it was sent.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import MAXYEAR, MINYEAR, UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.campaigns import list_campaigns
from broadcasts.local_time import zone
from broadcasts.models import Campaign, CampaignStatus, Run, ScheduleKind, schedule_day
from broadcasts.scheduler import cron_trigger

MONTH_FORMAT = "%Y-%m"


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    in_month: bool
    campaigns: list[Campaign]


@dataclass(frozen=True, slots=True)
class Month:
    first: date
    weeks: list[list[Day]]

    @property
    def title(self) -> str:
        return f"{calendar.month_name[self.first.month]} {self.first.year}"

    @property
    def previous(self) -> str:
        return (self.first - timedelta(days=1)).strftime(MONTH_FORMAT)

    @property
    def next(self) -> str:
        return (self.first + timedelta(days=31)).replace(day=1).strftime(MONTH_FORMAT)

    @property
    def busy_days(self) -> list[Day]:
        """The month's days that have campaigns, in order."""
        return [day for week in self.weeks for day in week if day.in_month and day.campaigns]


def first_of(month: str | None, *, today: date) -> date:
    """The first day of `month` (YYYY-MM; None: this month); ValueError if it is not one,
    or is in the first or last year a date has, whose calendar needs days before or
    after every date there is."""
    if not month:
        return today.replace(day=1)
    try:
        first = datetime.strptime(month, MONTH_FORMAT).replace(tzinfo=UTC).date()
    except ValueError:
        raise ValueError(f"month is a year and a month, like 2026-05: not {month[:20]!r}") from None
    if not MINYEAR < first.year < MAXYEAR:
        lowest, highest = f"{MINYEAR + 1:04}-01", f"{MAXYEAR - 1}-12"
        raise ValueError(f"month is between {lowest} and {highest}: not {month!r}")
    return first


async def campaign_month(session: AsyncSession, *, first: date, now: datetime) -> Month:
    """The month starting on `first`, each day with its campaigns."""
    weeks = calendar.Calendar().monthdatescalendar(first.year, first.month)
    start, end = weeks[0][0], weeks[-1][-1]
    campaigns = await list_campaigns(session)
    runs = await _run_days(session, start=start, end=end)
    found: dict[date, list[Campaign]] = defaultdict(list)
    for campaign in campaigns:
        days = runs.get(campaign.id, set()) | _planned(campaign, start, end, now)
        for day in sorted(days):
            found[day].append(campaign)
    return Month(
        first,
        [
            [Day(day, day.month == first.month, found.get(day, [])) for day in week]
            for week in weeks
        ],
    )


async def _run_days(session: AsyncSession, *, start: date, end: date) -> dict[int, set[date]]:
    """The days each campaign's runs were scheduled for, within start..end."""
    # A day away on each side: a run's day is its day in the schedule's timezone.
    since = datetime.combine(start - timedelta(days=1), time(), tzinfo=UTC)
    until = datetime.combine(end + timedelta(days=2), time(), tzinfo=UTC)
    rows = await session.execute(
        select(
            Run.campaign_id,
            Run.scheduled_for,
            Campaign.schedule_kind,
            Campaign.run_at,
            Campaign.schedule_timezone,
        )
        .join(Campaign, Campaign.id == Run.campaign_id)
        .where(Run.scheduled_for >= since, Run.scheduled_for < until)
    )
    days: dict[int, set[date]] = defaultdict(set)
    for campaign_id, moment, kind, run_at, timezone in rows.all():
        # A local-time run starts the day before in UTC+14: its day is the schedule's.
        day = (
            schedule_day(kind, run_at, timezone) or moment.astimezone(zone(timezone, "UTC")).date()
        )
        if start <= day <= end:
            days[campaign_id].add(day)
    return days


def _planned(campaign: Campaign, start: date, end: date, now: datetime) -> set[date]:
    """The days within start..end the campaign's schedule has still to fire on."""
    if campaign.status is not CampaignStatus.SCHEDULED:
        return set()
    if campaign.schedule_kind is ScheduleKind.CRON:
        return _cron_days(campaign, start, end, now)
    if campaign.schedule_kind is ScheduleKind.NOW:
        moment: datetime | None = campaign.created_at
    else:
        moment = campaign.run_at
    if moment is None:
        return set()
    day = moment.astimezone(zone(campaign.schedule_timezone, "UTC")).date()
    return {day} if start <= day <= end else set()


def _cron_days(campaign: Campaign, start: date, end: date, now: datetime) -> set[date]:
    """Each day a cron line fires on from now until `end` (one look a day, so a line
    firing every minute costs a month's days, not its minutes)."""
    tz = zone(campaign.schedule_timezone, "UTC")
    trigger = cron_trigger(campaign)
    after = max(now, datetime.combine(start, time(), tzinfo=tz))
    days: set[date] = set()
    moment = trigger.get_next_fire_time(None, after)
    while moment is not None and (day := moment.astimezone(tz).date()) <= end:
        days.add(day)
        moment = trigger.get_next_fire_time(None, datetime.combine(day + timedelta(1), time(), tz))
    return days
