"""The audience at a glance (the data behind the admin `/stats`): subscribers by status,
growth over the last 7 and 30 days, activity levels and where subscribers came from."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, EventType, Subscriber, SubscriberStatus
from segments.levels import ACTIVITY_LEVELS
from segments.models import ActivityLevel

GROWTH_PERIODS = (7, 30)  # days
TOP_SOURCES = 10
NO_SOURCE = "(direct)"
NOT_COMPUTED = "not computed"
LEAVING_EVENTS = (EventType.UNSUBSCRIBED, EventType.BLOCKED, EventType.DEACTIVATED)


@dataclass(frozen=True, slots=True)
class Growth:
    days: int
    joined: int  # subscribed in the period
    left: int  # unsubscribed, blocked the bot or deleted their account in the period

    @property
    def net(self) -> int:
        return self.joined - self.left


@dataclass(frozen=True, slots=True)
class AudienceStats:
    generated_at: datetime
    total: int
    by_status: dict[str, int]  # every SubscriberStatus, zeros included
    growth: tuple[Growth, ...]  # one per GROWTH_PERIODS
    activity: dict[str, int]  # active subscribers per level, lowest first, then NOT_COMPUTED
    sources: tuple[tuple[str, int], ...]  # first-touch source, most subscribers first

    @property
    def active(self) -> int:
        return self.by_status[SubscriberStatus.ACTIVE.value]


async def audience_stats(session: AsyncSession, *, now: datetime) -> AudienceStats:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    statuses = await session.execute(
        select(Subscriber.status, func.count()).group_by(Subscriber.status)
    )
    by_status = {status.value: 0 for status in SubscriberStatus}
    by_status |= {str(status): count for status, count in statuses.all()}
    return AudienceStats(
        generated_at=now,
        total=sum(by_status.values()),
        by_status=by_status,
        growth=tuple([await _growth(session, now=now, days=days) for days in GROWTH_PERIODS]),
        activity=await _activity(session),
        sources=await _sources(session),
    )


async def _growth(session: AsyncSession, *, now: datetime, days: int) -> Growth:
    since = now - timedelta(days=days)
    joined = await session.scalar(
        select(func.count()).where(
            Subscriber.subscribed_at >= since, Subscriber.subscribed_at <= now
        )
    )
    left = await session.scalar(
        select(func.count(distinct(Event.subscriber_id))).where(
            Event.type.in_([kind.value for kind in LEAVING_EVENTS]),
            Event.occurred_at >= since,
            Event.occurred_at <= now,
        )
    )
    return Growth(days=days, joined=joined or 0, left=left or 0)


async def _activity(session: AsyncSession) -> dict[str, int]:
    """Active subscribers per activity level; those without a level yet counted apart."""
    rows = await session.execute(
        select(ActivityLevel.level, func.count())
        .select_from(Subscriber)
        .outerjoin(ActivityLevel, ActivityLevel.subscriber_id == Subscriber.id)
        .where(Subscriber.status == SubscriberStatus.ACTIVE)
        .group_by(ActivityLevel.level)
    )
    counts: dict[int | None, int] = dict(rows.all())
    levels = {name: counts.get(number, 0) for number, name in enumerate(ACTIVITY_LEVELS)}
    return levels | {NOT_COMPUTED: counts.get(None, 0)}


async def _sources(session: AsyncSession) -> tuple[tuple[str, int], ...]:
    source = func.coalesce(Subscriber.source, NO_SOURCE)
    rows = await session.execute(
        select(source, func.count())
        .group_by(source)
        .order_by(func.count().desc(), source)
        .limit(TOP_SOURCES)
    )
    return tuple((str(name), int(count)) for name, count in rows.all())
