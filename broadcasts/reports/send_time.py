"""Best send time per saved segment, for reports: the local hour of day when its members
engaged most over a recent period (broadcasts.best_time does the counting)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.best_time import engagement_by_hour, pick_best_hour
from segments.models import Segment

LOOKBACK = timedelta(days=90)
MIN_EVENTS = 20  # fewer engagement events than this: too little to tell


@dataclass(frozen=True, slots=True)
class SegmentSendTime:
    segment: str
    hour: int | None  # 0-23 in each member's local time; None with too little data
    events: int  # engagement events at that hour
    total_events: int  # engagement events over the period


async def best_send_times(
    session: AsyncSession,
    *,
    now: datetime,
    lookback: timedelta = LOOKBACK,
    min_events: int = MIN_EVENTS,
    default_timezone: str = "UTC",
) -> list[SegmentSendTime]:
    """One per saved segment, by name, from the engagement of its current members."""
    segments = await session.execute(select(Segment.id, Segment.name).order_by(Segment.name))
    times = []
    for segment_id, name in segments.all():  # one grouped query per segment
        table = await engagement_by_hour(
            session,
            since=now - lookback,
            until=now,
            segment_id=segment_id,
            default_timezone=default_timezone,
        )
        best = pick_best_hour(table, fallback_hour=0, min_events=min_events)
        hour = None if best.fallback else best.hour
        times.append(SegmentSendTime(name, hour, best.events, best.total_events))
    return times
