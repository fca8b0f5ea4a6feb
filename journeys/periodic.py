"""Triggers the clock makes happen rather than an event: a date (a yearly date attribute
such as a birthday; N days after subscribing or after the last purchase), inactivity for
N days, and an RFM rescore moving someone to another RFM segment. Each is looked for by a
periodic check over what crossed its line since the journey's last check
(`Journey.checked_at`), so a journey never reaches back before it existed or was resumed,
and a check that runs late catches up (a yearly date: only on its day, never late).

Keys make each occurrence enrol once: `subscribed+7d:<when they subscribed>`,
`last_purchase+30d:<that purchase>`, `date:birthday:<the day>`, `inactive:<last seen>`,
`rfm:<segment>:<customer>:<rescore>`.
"""

from calendar import isleap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.local_time import zone
from core.db import upsert
from core.models import Subscriber, SubscriberStatus
from crm_sync.models import Customer, SubscriberPurchases
from journeys.enrol import Candidate
from journeys.models import RfmSeen
from journeys.triggers import LiveJourney
from journeys.triggers_spec import Anchor, DateTrigger, span_text
from segments.models import RfmRun, RfmScore
from segments.rules.sql_json import json_text


@dataclass(frozen=True, slots=True)
class RfmMove:
    subscriber_id: int
    customer_id: int
    segment: str  # the segment they are in now
    scored_at: datetime  # the rescore that moved them


async def date_candidates(
    session: AsyncSession, journey: LiveJourney, *, since: datetime, now: datetime
) -> list[Candidate]:
    """Who the journey's date or inactivity trigger fires for in (since, now]."""
    trigger = journey.spec.trigger
    if trigger.inactive is not None:
        span = trigger.inactive
        seen = Subscriber.last_seen_at
        rows = await session.execute(
            select(Subscriber.id, seen).where(_active(), seen > since - span, seen <= now - span)
        )
        return [Candidate(who, f"inactive:{seen.isoformat()}") for who, seen in rows.all()]
    if trigger.date is None:
        return []
    if trigger.date.attribute is not None:
        return await _yearly(session, trigger.date, journey.spec.timezone, since=since, now=now)
    return await _after(session, trigger.date, since=since, now=now)


def _active() -> ColumnElement[bool]:
    return Subscriber.status == SubscriberStatus.ACTIVE


async def _after(
    session: AsyncSession, date: DateTrigger, *, since: datetime, now: datetime
) -> list[Candidate]:
    span = timedelta(days=date.days)
    anchor: Any = Subscriber.subscribed_at
    query = select(Subscriber.id, anchor)
    if date.after is Anchor.LAST_PURCHASE:
        anchor = SubscriberPurchases.last_order_at
        query = select(Subscriber.id, anchor).join(
            SubscriberPurchases, SubscriberPurchases.subscriber_id == Subscriber.id
        )
    crossed = (anchor > since - span) & (anchor <= now - span)
    rows = await session.execute(query.where(_active(), crossed))
    name = f"{date.after}+{span_text(span)}"
    return [Candidate(who, f"{name}:{moment.isoformat()}") for who, moment in rows.all()]


async def _yearly(
    session: AsyncSession, date: DateTrigger, timezone: str, *, since: datetime, now: datetime
) -> list[Candidate]:
    """On the day (in the journey's timezone) that is `days` after the attribute's month
    and day, once the day has begun since the last check; a 29 February is 28 February
    in the years that have none."""
    tz = zone(timezone, "UTC")
    today = now.astimezone(tz).date()
    if date.attribute is None or since.astimezone(tz).date() >= today:
        return []
    anchor = today - timedelta(days=date.days)
    days = [f"{anchor:%m-%d}"]
    if (anchor.month, anchor.day) == (2, 28) and not isleap(anchor.year):
        days.append("02-29")
    value = json_text(Subscriber.attributes, date.attribute)
    month_day = func.substr(value, func.length(value) - 4, 5)
    rows = await session.scalars(select(Subscriber.id).where(_active(), month_day.in_(days)))
    return [Candidate(who, f"date:{date.attribute}:{today.isoformat()}") for who in rows.all()]


async def rfm_moves(session: AsyncSession, *, checked_at: datetime) -> list[RfmMove]:
    """Customers linked to a subscriber whose RFM segment differs from the one journeys
    saw last, after a rescore since `checked_at`; what is seen is kept (the caller
    commits). The first look ever only notes where everyone is: nobody moved."""
    rescored = await session.scalar(select(func.max(RfmRun.scored_at)))
    if rescored is None or rescored <= checked_at:
        return []
    first_look = await session.scalar(select(func.count()).select_from(RfmSeen)) == 0
    rows = await session.execute(
        select(Customer.subscriber_id, RfmScore.customer_id, RfmScore.segment)
        .join(Customer, Customer.id == RfmScore.customer_id)
        .outerjoin(RfmSeen, RfmSeen.customer_id == RfmScore.customer_id)
        .where(RfmSeen.segment.is_(None) | (RfmSeen.segment != RfmScore.segment))
    )
    changed = rows.all()
    seen = [{"customer_id": customer, "segment": segment} for _, customer, segment in changed]
    for start in range(0, len(seen), 1000):
        await upsert(session, RfmSeen, seen[start : start + 1000], key=["customer_id"])
    if first_look:
        return []
    return [
        RfmMove(who, customer, segment, rescored)
        for who, customer, segment in changed
        if who is not None
    ]


def rfm_candidates(journey: LiveJourney, moves: Sequence[RfmMove]) -> list[Candidate]:
    """The RFM trigger's enrolments: whom a rescore moved into its segment."""
    wanted = journey.spec.trigger.rfm
    return [
        Candidate(move.subscriber_id, _rfm_key(wanted, move))
        for move in moves
        if move.segment == wanted
    ]


def _rfm_key(segment: str | None, move: RfmMove) -> str:
    return f"rfm:{segment}:{move.customer_id}:{move.scored_at:%Y%m%d%H%M%S}"
