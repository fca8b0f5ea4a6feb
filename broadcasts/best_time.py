"""When an audience engages: events by hour of day and weekday in each subscriber's own
local time, and the best hour to message them.

`engagement_by_hour` is the general table (reports use it for heatmaps); `best_hour`
picks the hour of day with the most engagement, or a fallback hour when there is too
little data to tell. The `best_hour` campaign schedule plans each target at its own.

Engagement is what a subscriber does in reply to the bot: inferred reads, tracked-link
clicks, messages (replies), inline-button presses and reactions (`ENGAGEMENT_EVENTS`).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.local_time import zone
from core.models import Event, EventType, Subscriber
from segments.models import SegmentMember

ENGAGEMENT_EVENTS: tuple[EventType, ...] = (
    EventType.READ,
    EventType.LINK_CLICK,
    EventType.MESSAGE,
    EventType.BUTTON,
    EventType.REACTION,
)
COLUMNS = ("weekday", "hour", "events", "subscribers")
HOURS, WEEKDAYS = 24, 7


@dataclass(frozen=True, slots=True)
class BestHour:
    hour: int  # 0-23, in each subscriber's local time
    events: int  # engagement events at that hour
    total_events: int  # engagement events at any hour
    fallback: bool  # too little data: `hour` is the configured fallback


async def engagement_by_hour(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    segment_id: int | None = None,
    subscriber_ids: Select[int] | None = None,
    default_timezone: str = "UTC",
    event_types: Collection[EventType] = ENGAGEMENT_EVENTS,
) -> pd.DataFrame:
    """Engagement events in [since, until) by local weekday and hour.

    Whose events: the members of the saved segment `segment_id` (its materialised
    membership), or the subscribers a `subscriber_ids` SELECT returns (e.g.
    `segments.rules.compiler.subscriber_ids(rule, now=...)`), or — given neither —
    everyone. Each event is placed in its subscriber's timezone; a subscriber without
    one (or with an unknown name) in `default_timezone`.

    Returns one row per weekday (0 = Monday) and hour (0-23): all 168, in that order,
    zeros included, with columns `weekday`, `hour`, `events` (how many engagement
    events) and `subscribers` (how many distinct subscribers engaged then); all int64.
    ValueError for both audiences at once, naive datetimes or an empty period.
    """
    if segment_id is not None and subscriber_ids is not None:
        raise ValueError("give segment_id or subscriber_ids, not both")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if since >= until:
        raise ValueError(f"empty period: since {since.isoformat()} is not before until")
    zone(None, default_timezone)  # an unknown default fails here, not per row
    statement = (
        select(Event.subscriber_id, Subscriber.timezone, Event.occurred_at)
        .join(Subscriber, Subscriber.id == Event.subscriber_id)
        .where(
            Event.type.in_([kind.value for kind in event_types]),
            Event.occurred_at >= since,
            Event.occurred_at < until,
        )
    )
    if segment_id is not None:
        statement = statement.join(
            SegmentMember,
            (SegmentMember.subscriber_id == Event.subscriber_id)
            & (SegmentMember.segment_id == segment_id),
        )
    if subscriber_ids is not None:
        statement = statement.where(
            Event.subscriber_id.in_(subscriber_ids.correlate(None).scalar_subquery())
        )
    rows = (await session.execute(statement)).all()
    events = pd.DataFrame.from_records(rows, columns=["subscriber_id", "timezone", "occurred_at"])
    return local_grid(events, default_timezone=default_timezone)


def local_grid(events: pd.DataFrame, *, default_timezone: str) -> pd.DataFrame:
    """The weekday x hour table of `engagement_by_hour` from raw events: columns
    `subscriber_id`, `timezone` (IANA name or None) and `occurred_at` (aware)."""
    stamps = pd.to_datetime(events["occurred_at"], utc=True)
    names = events["timezone"].fillna(default_timezone).astype(str)
    weekday = np.zeros(len(events), dtype=np.int64)
    hour = np.zeros(len(events), dtype=np.int64)
    for name in names.unique():  # one vectorised conversion per timezone (there are few)
        mask = (names == name).to_numpy()
        local = stamps[mask].dt.tz_convert(zone(name, default_timezone).key)
        weekday[mask] = local.dt.day_of_week.to_numpy()
        hour[mask] = local.dt.hour.to_numpy()
    located = pd.DataFrame(
        {"weekday": weekday, "hour": hour, "subscriber_id": events["subscriber_id"].to_numpy()}
    )
    grouped = located.groupby(["weekday", "hour"])["subscriber_id"]
    table = pd.DataFrame({"events": grouped.size(), "subscribers": grouped.nunique()})
    cells = pd.MultiIndex.from_product([range(WEEKDAYS), range(HOURS)], names=["weekday", "hour"])
    full = table.reindex(cells, fill_value=0).astype("int64").reset_index()
    return full[list(COLUMNS)]


def pick_best_hour(table: pd.DataFrame, *, fallback_hour: int, min_events: int) -> BestHour:
    """The hour of day (over all weekdays) with the most events in an `engagement_by_hour`
    table; the earliest such hour on a tie; `fallback_hour` when the table holds fewer
    than `min_events` events."""
    if not 0 <= fallback_hour < HOURS:
        raise ValueError(f"fallback_hour must be 0-23, got {fallback_hour}")
    per_hour = table.groupby("hour")["events"].sum().reindex(range(HOURS), fill_value=0)
    total = int(per_hour.sum())
    if total < max(min_events, 1):
        return BestHour(
            hour=fallback_hour,
            events=int(per_hour[fallback_hour]),
            total_events=total,
            fallback=True,
        )
    hour = int(np.argmax(per_hour.to_numpy()))
    return BestHour(hour=hour, events=int(per_hour[hour]), total_events=total, fallback=False)


async def best_hour(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    fallback_hour: int,
    min_events: int,
    segment_id: int | None = None,
    subscriber_ids: Select[int] | None = None,
    default_timezone: str = "UTC",
) -> BestHour:
    """The local hour of day when the audience (as in `engagement_by_hour`) engaged most
    in [since, until); `fallback_hour` when it engaged fewer than `min_events` times."""
    table = await engagement_by_hour(
        session,
        since=since,
        until=until,
        segment_id=segment_id,
        subscriber_ids=subscriber_ids,
        default_timezone=default_timezone,
    )
    return pick_best_hour(table, fallback_hour=fallback_hour, min_events=min_events)
