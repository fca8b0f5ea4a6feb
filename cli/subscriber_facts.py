"""What `segbot subscribers show` knows of one subscriber beyond their own row: CRM
customers with their RFM scores, ladder stage, activity level, the saved segments they
are in now (with the predicates that hold, evaluated by the segments' own SQL), their
latest deliveries and events."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, CampaignTarget, Delivery, Run, Variant
from core.models import Event, Subscriber
from crm_sync.models import Customer
from segments.explain import explain
from segments.levels import ACTIVITY_LEVELS, STAGES
from segments.models import ActivityLevel, LadderStage, RfmScore
from segments.saved import saved_rules


@dataclass(frozen=True, slots=True)
class DeliveryLine:
    """One message of a campaign run to the subscriber, and what became of it."""

    started_at: datetime  # the run's
    campaign: str
    message: str  # target/variant
    status: str
    reason: str | None
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventLine:
    occurred_at: datetime
    kind: str
    campaign_id: int | None


@dataclass(frozen=True, slots=True)
class Facts:
    customers: list[str]  # one line per linked CRM customer
    stage: str
    activity: str
    segments: dict[str, list[str]]  # the segments they are in, each with what holds
    deliveries: list[DeliveryLine]  # latest first
    events: list[EventLine]  # latest first


async def gather(
    session: AsyncSession,
    subscriber: Subscriber,
    *,
    now: datetime,
    rfm_names: tuple[str, ...],
    last: int,
) -> Facts:
    """Everything `show` prints besides the row itself; `last` deliveries and events."""
    stage = await session.scalar(
        select(LadderStage.stage).where(LadderStage.subscriber_id == subscriber.id)
    )
    level = await session.scalar(
        select(ActivityLevel.level).where(ActivityLevel.subscriber_id == subscriber.id)
    )
    return Facts(
        customers=await _customers(session, subscriber.id),
        stage=STAGES[stage or 0],
        activity="not computed yet" if level is None else ACTIVITY_LEVELS[level],
        segments=await _segments(session, subscriber.id, now=now, rfm_names=rfm_names),
        deliveries=await _deliveries(session, subscriber.id, last),
        events=await _events(session, subscriber.id, last),
    )


async def _customers(session: AsyncSession, subscriber_id: int) -> list[str]:
    rows = await session.execute(
        select(Customer, RfmScore)
        .outerjoin(RfmScore, RfmScore.customer_id == Customer.id)
        .where(Customer.subscriber_id == subscriber_id)
        .order_by(Customer.id)
    )
    lines = []
    for customer, score in rows.all():
        rfm = (
            "no RFM score"
            if score is None
            else f"RFM {score.segment} (R{score.r} F{score.f} M{score.m})"
        )
        lines.append(
            f"{customer.source}/{customer.external_id} ({customer.matched_by or 'linked'}): "
            f"{customer.orders_count} orders, {customer.total_spent:,.2f} spent · {rfm}"
        )
    return lines


async def _segments(
    session: AsyncSession, subscriber_id: int, *, now: datetime, rfm_names: tuple[str, ...]
) -> dict[str, list[str]]:
    rules = await saved_rules(session, rfm_segments=rfm_names)
    found = {}
    for name in sorted(rules):
        why = await explain(
            session, subscriber_id=subscriber_id, rule=rules[name], now=now, segments=rules
        )
        if why.matches:
            found[name] = [check.predicate for check in why.checks if check.held]
    return found


async def _deliveries(session: AsyncSession, subscriber_id: int, last: int) -> list[DeliveryLine]:
    rows = await session.execute(
        select(Run.started_at, Campaign.name, CampaignTarget.label, Variant.name, Delivery)
        .join(Run, Run.id == Delivery.run_id)
        .join(Campaign, Campaign.id == Run.campaign_id)
        .join(CampaignTarget, CampaignTarget.id == Delivery.target_id)
        .join(Variant, Variant.id == Delivery.variant_id)
        .where(Delivery.subscriber_id == subscriber_id)
        .order_by(Run.started_at.desc(), Delivery.id.desc())
        .limit(last)
    )
    return [
        DeliveryLine(
            started_at=started_at,
            campaign=campaign,
            message=f"{target}/{variant}",
            status=delivery.status.value,
            reason=delivery.reason,
            sent_at=delivery.sent_at,
        )
        for started_at, campaign, target, variant, delivery in rows.all()
    ]


async def _events(session: AsyncSession, subscriber_id: int, last: int) -> list[EventLine]:
    rows = await session.execute(
        select(Event.occurred_at, Event.type, Event.campaign_id)
        .where(Event.subscriber_id == subscriber_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(last)
    )
    return [EventLine(*row) for row in rows.all()]
