"""Trends over a period: subscribers joining and leaving per day, segment sizes with their
entries and exits (from the segment history), and moves between activity levels.

Each is one query; the per-day series is built in pandas from it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.reports.audience import LEAVING_EVENTS
from core.models import Event, Subscriber
from segments.levels import ACTIVITY_LEVELS
from segments.models import ActivityLevel, Segment, SegmentSize

DAILY_COLUMNS = ["day", "joined", "left", "net"]


@dataclass(frozen=True, slots=True)
class SegmentTrend:
    segment: str
    size: int | None  # at the latest refresh; None if never refreshed
    size_before: int | None  # at the last refresh before the period; None if none
    entered: int  # over the refreshes in the period
    left: int
    refreshed_at: datetime | None

    @property
    def change(self) -> int | None:
        if self.size is None or self.size_before is None:
            return None
        return self.size - self.size_before


@dataclass(frozen=True, slots=True)
class Transition:
    before: str  # an activity level, or "new" for a first level
    after: str
    subscribers: int


def _since(now: datetime, days: int) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if days <= 0:
        raise ValueError(f"the period must be at least one day, got {days}")
    return now - timedelta(days=days)


async def subscribers_by_day(session: AsyncSession, *, now: datetime, days: int) -> pd.DataFrame:
    """One row per UTC day of the period (oldest first, every day present): `day` (date),
    `joined`, `left` (subscribers who unsubscribed, blocked or deactivated that day, each
    once: /stop and then a block are one person leaving) and `net`."""
    since = _since(now, days)
    joined = await session.execute(
        select(Subscriber.subscribed_at).where(
            Subscriber.subscribed_at >= since, Subscriber.subscribed_at <= now
        )
    )
    left = await session.execute(
        select(Event.occurred_at, Event.subscriber_id).where(
            Event.type.in_([kind.value for kind in LEAVING_EVENTS]),
            Event.occurred_at >= since,
            Event.occurred_at <= now,
        )
    )
    leaving = pd.DataFrame(left.all(), columns=["moment", "subscriber_id"], dtype=object)
    days_index = pd.date_range(since.date(), now.date(), freq="D")
    counts = pd.DataFrame(
        {
            "joined": _per_day(pd.Series(joined.scalars().all(), dtype=object), days_index),
            "left": _per_day(leaving["moment"], days_index, who=leaving["subscriber_id"]),
        }
    )
    counts["net"] = counts["joined"] - counts["left"]
    counts["day"] = days_index.date
    return counts[DAILY_COLUMNS].reset_index(drop=True)


def _per_day(
    moments: pd.Series, days: pd.DatetimeIndex, *, who: pd.Series | None = None
) -> pd.Series:
    """How many `moments` fall on each of `days` (UTC); with `who` (the person of each
    moment, same index), how many different people."""
    stamps = pd.to_datetime(moments, utc=True).dt.tz_localize(None).dt.normalize()
    if who is not None:
        stamps = stamps[~pd.DataFrame({"day": stamps, "who": who}).duplicated()]
    return stamps.value_counts().reindex(days, fill_value=0).astype("int64")


async def segment_trends(session: AsyncSession, *, now: datetime, days: int) -> list[SegmentTrend]:
    """Every saved segment by name: its size now and before the period, and how many
    entered and left it during the period."""
    since = _since(now, days)
    in_period = and_(
        SegmentSize.segment_id == Segment.id,
        SegmentSize.measured_at >= since,
        SegmentSize.measured_at <= now,
    )
    before = (
        select(SegmentSize.size)
        .where(SegmentSize.segment_id == Segment.id, SegmentSize.measured_at < since)
        .order_by(SegmentSize.measured_at.desc())
        .limit(1)
        .correlate(Segment)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Segment.name,
            Segment.size,
            before,
            func.coalesce(func.sum(SegmentSize.entered), 0),
            func.coalesce(func.sum(SegmentSize.left), 0),
            Segment.refreshed_at,
        )
        .outerjoin(SegmentSize, in_period)
        .group_by(Segment.id, Segment.name, Segment.size, Segment.refreshed_at)
        .order_by(Segment.name)
    )
    return [
        SegmentTrend(name, size, size_before, int(entered), int(left), refreshed_at)
        for name, size, size_before, entered, left, refreshed_at in rows.all()
    ]


async def activity_transitions(
    session: AsyncSession, *, now: datetime, days: int
) -> list[Transition]:
    """Subscribers whose activity level changed during the period, by (before, now);
    most subscribers first, then first levels ("new") and lower levels first. Only the
    latest change of each subscriber is kept."""
    since = _since(now, days)
    first_levels_first = func.coalesce(ActivityLevel.previous_level, -1)
    rows = await session.execute(
        select(ActivityLevel.previous_level, ActivityLevel.level, func.count())
        .where(ActivityLevel.changed_at >= since, ActivityLevel.changed_at <= now)
        .group_by(ActivityLevel.previous_level, ActivityLevel.level)
        .order_by(func.count().desc(), first_levels_first, ActivityLevel.level)
    )
    return [
        Transition(
            "new" if before is None else ACTIVITY_LEVELS[before], ACTIVITY_LEVELS[after], count
        )
        for before, after, count in rows.all()
    ]
