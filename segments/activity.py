"""Activity levels from engagement events, with the thresholds of the `activity` section.

Over the last `window_days`: at least `very_active` engagement events is very_active, at
least `active` is active, at least `passive` is passive; none in the window but some
within `dormant_after_days` is cold; none at all is dormant. Only changes are written;
each row keeps the level before, so transitions (cold -> very_active) can be counted.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import analyze, upsert
from core.frames import read_frame
from core.models import Event, Subscriber
from segments.config import ActivityConfig
from segments.levels import ACTIVITY_LEVELS
from segments.models import ActivityLevel


@dataclass(frozen=True, slots=True)
class ActivityRefresh:
    changed: int
    levels: dict[str, int]  # subscribers per level after the refresh


@dataclass(frozen=True, slots=True)
class Transition:
    before: str | None  # None: the first level computed for them
    after: str
    subscribers: int


async def refresh_activity(
    session: AsyncSession, *, now: datetime, config: ActivityConfig
) -> ActivityRefresh:
    """Recompute every subscriber's level; commits."""
    window_start = now - timedelta(days=config.window_days)
    engaged = (
        select(
            Event.subscriber_id,
            func.sum(case((Event.occurred_at >= window_start, 1), else_=0)).label("recent"),
        )
        .where(
            Event.type.in_([kind.value for kind in config.events]),
            Event.occurred_at >= now - timedelta(days=config.dormant_after_days),
            Event.occurred_at <= now,
        )
        .group_by(Event.subscriber_id)
        .subquery()
    )
    statement = (
        select(Subscriber.id, engaged.c.recent, ActivityLevel.level)
        .outerjoin(engaged, engaged.c.subscriber_id == Subscriber.id)
        .outerjoin(ActivityLevel, ActivityLevel.subscriber_id == Subscriber.id)
    )
    frame = await read_frame(session, statement, ["subscriber_id", "recent", "stored"])
    recent = frame["recent"].astype("float64")
    frame["level"] = np.select(
        [
            recent >= config.very_active,
            recent >= config.active,
            recent >= config.passive,
            recent.notna(),
        ],
        [4, 3, 2, 1],
        default=0,
    )
    changed = frame[frame["level"] != frame["stored"].astype("float64")]
    rows = [
        {
            "subscriber_id": int(subscriber_id),
            "level": int(level),
            "previous_level": None if pd.isna(before) else int(before),
            "changed_at": now,
        }
        for subscriber_id, level, before in zip(
            changed["subscriber_id"], changed["level"], changed["stored"], strict=True
        )
    ]
    await upsert(session, ActivityLevel, rows, key=["subscriber_id"])
    if rows:
        await analyze(session, ActivityLevel.__tablename__)
    await session.commit()
    counts = frame["level"].value_counts()
    return ActivityRefresh(
        changed=len(changed),
        levels={name: int(counts.get(number, 0)) for number, name in enumerate(ACTIVITY_LEVELS)},
    )


async def transitions(session: AsyncSession, *, since: datetime) -> list[Transition]:
    """How many subscribers moved from one level to another at or after `since`."""
    rows = await session.execute(
        select(ActivityLevel.previous_level, ActivityLevel.level, func.count())
        .where(ActivityLevel.changed_at >= since)
        .group_by(ActivityLevel.previous_level, ActivityLevel.level)
        .order_by(ActivityLevel.previous_level.asc().nulls_first(), ActivityLevel.level)
    )
    return [
        Transition(None if before is None else ACTIVITY_LEVELS[before], ACTIVITY_LEVELS[after], n)
        for before, after, n in rows.all()
    ]
