"""Random subscribers (as evaluator facts), and storing them in the database as rows."""

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, Subscriber, SubscriberStatus, SubscriberTag
from crm_sync.facts import refresh_subscriber_purchases
from crm_sync.models import Customer
from segments.models import ActivityLevel, LadderStage, RfmScore
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.comparison import day_start
from segments.rules.evaluator import CustomerFacts, EventFact, RfmFacts, SubscriberFacts
from segments.rules.json_form import JsonValue
from tests.segments.rule_strategies import DATES, DURATIONS, TAGS, TEXTS

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
# Moments on both sides of the windows and dates the rule strategies use.
WINDOW_EDGES = [NOW - duration.span for duration in DURATIONS]
DAY_EDGES = [day_start(day) + timedelta(days=shift) for day in DATES for shift in (0, 1)]
MOMENTS = sorted(
    {NOW, *WINDOW_EDGES, *DAY_EDGES}
    | {edge + timedelta(seconds=shift) for edge in WINDOW_EDGES + DAY_EDGES for shift in (-1, 1)}
)
TEXT_COLUMNS = [
    "language_code", "country", "region", "city", "timezone", "source", "referrer",
    "utm_source", "utm_medium", "utm_campaign", "utm_content", "username", "phone", "email",
]  # fmt: skip
ATTRIBUTE_KEYS = ["age", "age_band", "gender", "income", "score", "tier"]
# Money as exact binary fractions: SQL and Python may add floats in different orders.
AMOUNTS = [0.0, 0.5, 2.5, 12.25, 40.0, 99.75]
EVENT_TYPES = ["read", "link_click", "message", "button", "reaction", "quiz_answer", "start"]

texts = st.sampled_from([*TEXTS[:6], None])
json_values: st.SearchStrategy[JsonValue] = st.sampled_from(
    [*TEXTS[:6], 0, 1, 3, 25, 2.5, 99.99, True, False, None, ["high"], {"x": 1}, "5"]
)
attributes = st.dictionaries(st.sampled_from(ATTRIBUTE_KEYS), json_values, max_size=4)
moments = st.sampled_from(MOMENTS)


@st.composite
def events(draw: st.DrawFn) -> EventFact:
    kind = draw(st.sampled_from(EVENT_TYPES))
    tag_values: list[JsonValue] = [*TAGS, 7]
    tags: st.SearchStrategy[JsonValue] = st.lists(st.sampled_from(tag_values), max_size=2)
    tags |= st.sampled_from(TAGS)
    payload: dict[str, JsonValue] = draw(st.fixed_dictionaries({}, optional={"tags": tags}))
    return EventFact(kind, draw(moments), draw(st.sampled_from([None, 1, 2])), payload)


customers = st.builds(
    CustomerFacts,
    attributes=attributes,
    orders_count=st.integers(0, 3),
    total_spent=st.sampled_from(AMOUNTS),
    last_order_at=st.none() | moments,
    rfm=st.none()
    | st.builds(
        RfmFacts,
        st.sampled_from(DEFAULT_SEGMENT_MAP.names),
        st.integers(1, 5),
        st.integers(1, 5),
        st.integers(1, 5),
    ),
)


@st.composite
def subscribers(draw: st.DrawFn) -> SubscriberFacts:
    columns: dict[str, str | datetime | None] = {name: draw(texts) for name in TEXT_COLUMNS}
    columns["status"] = draw(st.sampled_from([status.value for status in SubscriberStatus]))
    columns["subscribed_at"] = draw(moments)
    columns["last_seen_at"] = draw(moments)
    levels = st.none() | st.integers(0, 4)
    return SubscriberFacts(
        columns=columns,
        attributes=draw(attributes),
        tags=frozenset(draw(st.lists(st.sampled_from(TAGS), max_size=2))),
        events=tuple(draw(st.lists(events(), max_size=4))),
        customers=tuple(draw(st.lists(customers, max_size=2))),
        stage=draw(levels),
        activity=draw(levels),
    )


populations = st.lists(subscribers(), min_size=3, max_size=12)


async def store(session: AsyncSession, population: list[SubscriberFacts]) -> list[int]:
    """Replace every subscriber in the database with `population`; their ids, in order."""
    for table in (RfmScore, Customer, Event, SubscriberTag, LadderStage, ActivityLevel):
        await session.execute(delete(table))
    await session.execute(delete(Subscriber))
    ids = []
    for number, facts in enumerate(population, start=1):
        subscriber = Subscriber(
            telegram_id=number, chat_id=number, attributes=dict(facts.attributes), **facts.columns
        )
        session.add(subscriber)
        await session.flush()
        ids.append(subscriber.id)
        _add_related(session, subscriber.id, facts)
    await session.flush()
    for subscriber_id, facts in zip(ids, population, strict=True):
        for number, customer in enumerate(facts.customers):
            row = Customer(
                source="shop",
                external_id=f"{subscriber_id}-{number}",
                attributes=dict(customer.attributes),
                subscriber_id=subscriber_id,
                orders_count=customer.orders_count,
                total_spent=customer.total_spent,
                last_order_at=customer.last_order_at,
                created_at=NOW,
                updated_at=NOW,
            )
            session.add(row)
            await session.flush()
            if customer.rfm is not None:
                session.add(_rfm_row(row.id, customer.rfm))
    await session.flush()
    await refresh_subscriber_purchases(session)  # as the CRM sync does
    await session.commit()
    return ids


def _add_related(session: AsyncSession, subscriber_id: int, facts: SubscriberFacts) -> None:
    session.add_all(
        SubscriberTag(subscriber_id=subscriber_id, tag=t, added_at=NOW) for t in facts.tags
    )
    for event in facts.events:
        session.add(
            Event(
                subscriber_id=subscriber_id,
                type=event.type,
                occurred_at=event.occurred_at,
                campaign_id=event.campaign_id,
                payload=dict(event.payload),
            )
        )
    if facts.stage is not None:
        session.add(
            LadderStage(
                subscriber_id=subscriber_id, stage=facts.stage, evidence_at=NOW, changed_at=NOW
            )
        )
    if facts.activity is not None:
        session.add(
            ActivityLevel(subscriber_id=subscriber_id, level=facts.activity, changed_at=NOW)
        )


def _rfm_row(customer_id: int, rfm: RfmFacts) -> RfmScore:
    return RfmScore(
        customer_id=customer_id,
        last_ordered_at=NOW - timedelta(days=1),
        frequency=1,
        monetary=1.0,
        r=rfm.r,
        f=rfm.f,
        m=rfm.m,
        segment=rfm.segment,
        changed_at=NOW,
    )
