"""Engagement features: events per week of each kind, and the shares of engagement per
quarter of each subscriber's own day.

The database reads the window's engagement events once, as one integer per event that
packs who, what and the UTC hour (`SLOTS` per subscriber); numpy counts them. Packed,
a million subscribers' events cross as plain integers in chunks: no per-subscriber rows
of counts, and no table of 24 hours per subscriber.
"""

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Integer, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from core.models import Event, EventType
from core.zones import zone_or_none
from segments.ai.columns import Array, positions, read_columns
from segments.ai.people import People

ENGAGEMENT = {
    "reads": EventType.READ,
    "clicks": EventType.LINK_CLICK,
    "replies": EventType.MESSAGE,
    "reactions": EventType.REACTION,
    "presses": EventType.BUTTON,
}
HOURS = ("night", "morning", "afternoon", "evening")
HOUR_PRIOR = 4  # pseudo-events, spread like the audience's, in everyone's hour shares
SLOTS = 128  # packed values per subscriber: kind * 24 + UTC hour (120 of them used)
Floats = np.ndarray[Any, np.dtype[np.float64]]


async def engagement(
    session: AsyncSession, people: People, *, now: datetime, window_days: int
) -> tuple[Floats, Floats]:
    """Per person, in order: events per week of each kind of `ENGAGEMENT` over the window
    (or since they subscribed, when later), and shares of engagement per quarter of their
    day (`HOURS`, in their time zone when known, else UTC), with `HOUR_PRIOR` events
    spread like the audience's added."""
    types = [kind.value for kind in ENGAGEMENT.values()]
    what = case({value: number for number, value in enumerate(types)}, value=Event.type)
    hour = _utc_hour(session.get_bind().dialect.name)
    statement = select(cast(Event.subscriber_id, BigInteger) * SLOTS + what * 24 + hour).where(
        Event.type.in_(types),
        Event.occurred_at >= now - timedelta(days=window_days),
        Event.occurred_at <= now,
    )
    (packed,), _ = await read_columns(session, statement, ["int"])
    owners, slots = np.divmod(packed, SLOTS)
    rows, known = positions(people.index, owners)
    rows, slots = rows[known], slots[known]
    kinds, utc_hours = np.divmod(slots, 24)
    n = len(people.index)
    counts = _counts(rows, kinds, n, len(ENGAGEMENT))
    weeks = np.maximum(np.minimum(people.tenure, window_days) / 7, 1)
    local = (utc_hours + _utc_offsets(people.zones, now)[rows]) % 24
    quarters = _counts(rows, local // 6, n, len(HOURS)).astype(np.float64)
    return counts / weeks[:, None], _shares(quarters)


def _counts(rows: Array, columns: Array, n: int, width: int) -> Array:
    """An n x width table of how many times each (row, column) occurs."""
    return np.bincount(rows * width + columns, minlength=n * width).reshape(n, width)


def _shares(quarters: Floats) -> Floats:
    """Each row's shares of its events per quarter, with the prior's pseudo-events added:
    one or two events say little about someone's day (alone they would make 100% shares,
    a fake cluster per quarter), and no events means the audience's usual mix."""
    overall = quarters.sum(axis=0)
    usual = overall / overall.sum() if overall.sum() > 0 else np.full(4, 0.25)
    shares: Floats = (quarters + HOUR_PRIOR * usual) / (
        quarters.sum(axis=1, keepdims=True) + HOUR_PRIOR
    )
    return shares


def _utc_hour(dialect: str) -> ColumnElement[int]:
    if dialect == "postgresql":
        return cast(func.extract("hour", func.timezone("UTC", Event.occurred_at)), Integer)
    # SQLite holds UTC times as 'YYYY-MM-DD HH:MM:SS.ffffff' text (SQLAlchemy's format, which
    # rules already compare as text): the hour is characters 12-13. strftime() parses the
    # whole date first, a third of this query's time over millions of events.
    return cast(func.substr(Event.occurred_at, 12, 2), Integer)


def _utc_offsets(zones: pd.Categorical, now: datetime) -> Array:
    """Each subscriber's offset from UTC at `now` in whole hours, from their time zone's
    name (0 when empty or unknown)."""
    hours = np.array([_utc_offset_hours(str(zone), now) for zone in zones.categories])
    return hours[zones.codes] if len(hours) else np.zeros(len(zones), dtype=np.int64)


def _utc_offset_hours(zone: str, now: datetime) -> int:
    """The zone's offset from UTC at `now`, rounded to whole hours; 0 for an unknown zone."""
    if not zone:
        return 0
    tz = zone_or_none(zone)
    offset = now.astimezone(tz).utcoffset() if tz is not None else None
    return round(offset.total_seconds() / 3600) if offset is not None else 0
