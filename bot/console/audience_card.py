"""The subscriber card the console shows: what the chat console's `/find` card says
(bot.admin.subscriber_card), as rows and lists for a page rather than Telegram HTML:
profile, tags, CRM customers with their RFM scores, ladder stage and activity level,
the saved segments they are in with each predicate that holds, and their latest events.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.subscriber_card import LAST_EVENTS, MAX_SEGMENTS
from core.models import Event, Subscriber
from crm_sync.models import Customer
from segments.explain import explain
from segments.levels import ACTIVITY_LEVELS, STAGES
from segments.models import ActivityLevel, LadderStage, RfmScore
from segments.saved import saved_rules

Field = tuple[str, str]  # label, value


@dataclass(frozen=True, slots=True)
class SegmentWhy:
    segment: str
    held: str  # the predicates that hold, in the rule's words


@dataclass(frozen=True, slots=True)
class Card:
    subscriber_id: int  # the row id: the card's address
    name: str
    profile: tuple[Field, ...]
    tags: tuple[str, ...]
    answers: tuple[Field, ...]  # the quiz's answers and other attributes
    customers: tuple[str, ...]  # one line per CRM customer matched to them
    stage: str
    activity: str
    segments: tuple[SegmentWhy, ...]
    events: tuple[Field, ...]  # when, what


def _profile(subscriber: Subscriber) -> tuple[Field, ...]:
    utm = " / ".join(
        filter(None, (subscriber.utm_source, subscriber.utm_medium, subscriber.utm_campaign))
    )
    place = ", ".join(filter(None, (subscriber.city, subscriber.region, subscriber.country)))
    source = (subscriber.source or "-") + (f" ({utm})" if utm else "")
    fields = [
        ("Telegram id", str(subscriber.telegram_id)),
        ("Username", f"@{subscriber.username}" if subscriber.username else "-"),
        ("Status", subscriber.status.value),
        ("Language", subscriber.language_code or "-"),
        ("Subscribed", f"{subscriber.subscribed_at:%Y-%m-%d}"),
        ("Last seen", f"{subscriber.last_seen_at:%Y-%m-%d %H:%M} UTC"),
        ("Source", source),
        ("Phone", subscriber.phone or "-"),
        ("Email", subscriber.email or "-"),
    ]
    if place or subscriber.timezone:
        fields += [("Place", place or "-"), ("Timezone", subscriber.timezone or "-")]
    return tuple(fields)


async def _customers(session: AsyncSession, subscriber_id: int) -> tuple[str, ...]:
    rows = await session.execute(
        select(Customer, RfmScore)
        .outerjoin(RfmScore, RfmScore.customer_id == Customer.id)
        .where(Customer.subscriber_id == subscriber_id)
        .order_by(Customer.id)
    )
    return tuple(
        f"{customer.source}/{customer.external_id}: {customer.orders_count} orders, "
        f"{customer.total_spent:,.2f} spent · "
        + (f"RFM {score.segment} (R{score.r} F{score.f} M{score.m})" if score else "no RFM score")
        for customer, score in rows
    )


async def _segments(
    session: AsyncSession, subscriber_id: int, now: datetime, rfm_names: tuple[str, ...]
) -> tuple[SegmentWhy, ...]:
    rules = await saved_rules(session, rfm_segments=rfm_names)
    found = []
    for name in sorted(rules)[:MAX_SEGMENTS]:
        why = await explain(
            session, subscriber_id=subscriber_id, rule=rules[name], now=now, segments=rules
        )
        if why.matches:
            found.append(SegmentWhy(name, ", ".join(c.predicate for c in why.checks if c.held)))
    return tuple(found)


async def _events(session: AsyncSession, subscriber_id: int) -> tuple[Field, ...]:
    events = await session.scalars(
        select(Event)
        .where(Event.subscriber_id == subscriber_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(LAST_EVENTS)
    )
    return tuple(
        (
            f"{event.occurred_at:%Y-%m-%d %H:%M}",
            event.type + (f" (campaign {event.campaign_id})" if event.campaign_id else ""),
        )
        for event in events
    )


async def subscriber_card(
    session: AsyncSession, *, subscriber: Subscriber, now: datetime, rfm_names: tuple[str, ...]
) -> Card:
    stage = await session.scalar(
        select(LadderStage.stage).where(LadderStage.subscriber_id == subscriber.id)
    )
    level = await session.scalar(
        select(ActivityLevel.level).where(ActivityLevel.subscriber_id == subscriber.id)
    )
    name = " ".join(filter(None, (subscriber.first_name, subscriber.last_name))) or "(no name)"
    return Card(
        subscriber_id=subscriber.id,
        name=name,
        profile=_profile(subscriber),
        tags=tuple(sorted(tag.tag for tag in subscriber.tags)),
        answers=tuple((key, str(value)) for key, value in sorted(subscriber.attributes.items())),
        customers=await _customers(session, subscriber.id),
        stage=STAGES[stage or 0],
        activity="not computed yet" if level is None else ACTIVITY_LEVELS[level],
        segments=await _segments(session, subscriber.id, now, rfm_names),
        events=await _events(session, subscriber.id),
    )
