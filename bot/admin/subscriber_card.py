"""The subscriber card `/find` shows: profile, tags, source, RFM, stage, activity, the
segments they are in and why (each predicate that holds), and their latest events.

Its lines are each of a bounded length (long tag lists, answers and rules cut short), so
`bot.admin.monospace.pieces` can pack them into as many messages as they need."""

from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.admin.monospace import MAX_LINE, bold, code
from core.clock import Clock
from core.models import Event, Subscriber
from crm_sync.models import Customer
from segments.explain import explain
from segments.levels import ACTIVITY_LEVELS, STAGES
from segments.models import ActivityLevel, LadderStage, RfmScore
from segments.rules.errors import excerpt
from segments.saved import saved_rules

LAST_EVENTS = 8
MAX_SEGMENTS = 20


def _profile(subscriber: Subscriber) -> list[str]:
    name = " ".join(filter(None, (subscriber.first_name, subscriber.last_name))) or "(no name)"
    handle = f" @{subscriber.username}" if subscriber.username else ""
    utm = " / ".join(
        filter(None, (subscriber.utm_source, subscriber.utm_medium, subscriber.utm_campaign))
    )
    place = ", ".join(filter(None, (subscriber.city, subscriber.region, subscriber.country)))
    lines = [
        f"{bold(name)}{escape(handle)} · id {code(str(subscriber.telegram_id))}",
        f"Status: {subscriber.status.value} · language {escape(subscriber.language_code or '-')}",
        f"Subscribed {subscriber.subscribed_at:%Y-%m-%d} · "
        f"last seen {subscriber.last_seen_at:%Y-%m-%d %H:%M} UTC",
        f"Source: {escape(subscriber.source or '-')}" + (f" ({escape(utm)})" if utm else ""),
        f"Phone: {escape(subscriber.phone or '-')} · email: {escape(subscriber.email or '-')}",
    ]
    if place or subscriber.timezone:
        lines.append(
            f"Place: {escape(place or '-')} · timezone {escape(subscriber.timezone or '-')}"
        )
    tags = ", ".join(sorted(tag.tag for tag in subscriber.tags))
    lines.append(f"Tags: {escape(excerpt(tags or '-', MAX_LINE))}")
    if subscriber.attributes:
        answers = "; ".join(
            f"{key}: {value}" for key, value in sorted(subscriber.attributes.items())
        )
        lines.append(f"Answers: {escape(excerpt(answers, MAX_LINE))}")
    return lines


async def _scores(session: AsyncSession, subscriber_id: int) -> list[str]:
    lines = []
    customers = await session.execute(
        select(Customer, RfmScore)
        .outerjoin(RfmScore, RfmScore.customer_id == Customer.id)
        .where(Customer.subscriber_id == subscriber_id)
        .order_by(Customer.id)
    )
    for customer, score in customers:
        rfm = f"RFM {score.segment} (R{score.r} F{score.f} M{score.m})" if score else "no RFM score"
        lines.append(
            f"Customer {escape(customer.source)}/{escape(customer.external_id)}: "
            f"{customer.orders_count} orders, {customer.total_spent:,.2f} spent · {escape(rfm)}"
        )
    if not lines:
        lines.append("Not matched to a CRM customer.")
    stage = await session.scalar(
        select(LadderStage.stage).where(LadderStage.subscriber_id == subscriber_id)
    )
    level = await session.scalar(
        select(ActivityLevel.level).where(ActivityLevel.subscriber_id == subscriber_id)
    )
    activity = "not computed yet" if level is None else ACTIVITY_LEVELS[level]
    lines.append(f"Stage: {STAGES[stage or 0]} · activity: {activity}")
    return lines


async def _segments(
    session: AsyncSession, subscriber_id: int, clock: Clock, rfm_names: tuple[str, ...]
) -> list[str]:
    rules = await saved_rules(session, rfm_segments=rfm_names)
    lines = []
    for name in sorted(rules)[:MAX_SEGMENTS]:
        why = await explain(
            session, subscriber_id=subscriber_id, rule=rules[name], now=clock(), segments=rules
        )
        if why.matches:
            held = ", ".join(check.predicate for check in why.checks if check.held)
            lines.append(f"• {bold(name)}: {escape(excerpt(held, MAX_LINE))}")
    if not lines:
        return ["Segments: none"]
    return ["Segments (and what holds):", *lines]


async def _events(session: AsyncSession, subscriber_id: int) -> list[str]:
    events = (
        await session.scalars(
            select(Event)
            .where(Event.subscriber_id == subscriber_id)
            .order_by(Event.occurred_at.desc(), Event.id.desc())
            .limit(LAST_EVENTS)
        )
    ).all()
    lines = [
        f"{event.occurred_at:%m-%d %H:%M} {escape(event.type)}"
        + (f" (campaign {event.campaign_id})" if event.campaign_id else "")
        for event in events
    ]
    return ["Last events:", *lines] if lines else ["No events yet."]


async def card(
    session: AsyncSession, *, subscriber: Subscriber, clock: Clock, rfm_names: tuple[str, ...]
) -> list[str]:
    """The card's lines, an empty one between its parts."""
    parts = [
        _profile(subscriber),
        await _scores(session, subscriber.id),
        await _segments(session, subscriber.id, clock, rfm_names),
        await _events(session, subscriber.id),
    ]
    return [line for part in parts for line in ("", *part)][1:]
