"""A small campaign whose every number is known: deliveries in each state, reads, clicks,
replies, blocks, holdouts and CRM orders inside and outside the attribution window.

Campaign `spring` (goal: conversions), one run started at T0:

| who | target/variant | delivery | after the send (T0 + 1 min)                          |
|-----|----------------|----------|------------------------------------------------------|
| s1  | spanish/a      | sent     | replies at +1 h, 2 clicks; order 100 at +2 d (in);   |
|     |                |          | `later` messages them at +3 d, order 25 at +4 d      |
|     |                |          | (last touch: `later`'s)                              |
| s2  | spanish/a      | sent     | 1 click; refund 70 at +1 d; order 50 at +8 d (out)   |
| s3  | spanish/a      | sent     | blocks the bot at +10 h                              |
| s4  | spanish/a      | failed   |                                                      |
| s5  | spanish/b      | sent     | reacts at +3 h; order 40 at +1 d with UTM `other`    |
|     |                |          | (not ours); order 60 at +3 d                         |
| s6  | spanish/b      | sent     | `later` messages them at +4 d; order 80 at +5 d      |
|     |                |          | with UTM `spring` (ours); unsubscribes at +50 h      |
| s7  | spanish/b      | blocked  |                                                      |
| s8  | spanish/b      | unknown  |                                                      |
| s9  | spanish/a      | holdout  | order 30 at +2 d after the run started               |
| s10 | spanish/b      | holdout  |                                                      |
| s11 | default/a      | sent     | replies at +30 min                                   |
| s12 | default/a      | excluded | (unsubscribed before the run)                        |
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Campaign, Delivery, DeliveryStatus, Run, RunStatus
from core.models import Event, EventType
from crm_sync.models import Customer, Order
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from

T0 = NOW
SENT_AT = T0 + timedelta(minutes=1)
SPRING = """
name: spring
goal: conversions
holdout: 20
audience:
  - query: "lang = es"
    label: spanish
    variants:
      - {name: a, split: 50, text: "Hola A https://shop.example/a"}
      - {name: b, split: 50, text: "Hola B https://shop.example/b"}
default:
  text: "Hello https://shop.example/"
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    campaign_id: int
    later_id: int
    subscribers: list[int]  # s1..s12 at positions 0..11


async def build(session: AsyncSession) -> Scenario:
    s = await add_subscribers(session, 12, first_id=1)
    spring = await campaign_from(session, SPRING)
    later = await campaign_from(session, "name: later\ndefault: {text: again}\n")
    spanish, default = spring.targets
    a, b = spanish.variants
    (plain,) = default.variants
    run = await add_run(session, spring)
    sent, status = DeliveryStatus.SENT, DeliveryStatus
    rows = [
        (s[0], spanish.id, a.id, sent, None),
        (s[1], spanish.id, a.id, sent, None),
        (s[2], spanish.id, a.id, sent, None),
        (s[3], spanish.id, a.id, status.FAILED, "chat not found"),
        (s[4], spanish.id, b.id, sent, None),
        (s[5], spanish.id, b.id, sent, None),
        (s[6], spanish.id, b.id, status.BLOCKED, None),
        (s[7], spanish.id, b.id, status.UNKNOWN, None),
        (s[8], spanish.id, a.id, status.EXCLUDED, "holdout"),
        (s[9], spanish.id, b.id, status.EXCLUDED, "holdout"),
        (s[10], default.id, plain.id, sent, None),
        (s[11], default.id, plain.id, status.EXCLUDED, "unsubscribed"),
    ]
    deliveries = await add_deliveries(session, run, rows, sent_at=SENT_AT)
    later_run = await add_run(session, later)
    (later_target,) = later.targets
    later_rows = [
        (subscriber, later_target.id, later_target.variants[0].id, sent, None)
        for subscriber in (s[0], s[5])
    ]
    await add_deliveries(session, later_run, later_rows[:1], sent_at=T0 + timedelta(days=3))
    await add_deliveries(session, later_run, later_rows[1:], sent_at=T0 + timedelta(days=4))
    await _events(session, s, deliveries)
    await _orders(session, s)
    await session.commit()
    return Scenario(spring.id, later.id, s)


async def add_run(session: AsyncSession, campaign: Campaign, *, started_at: datetime = T0) -> Run:
    run = Run(
        campaign_id=campaign.id,
        status=RunStatus.DONE,
        scheduled_for=started_at,
        started_at=started_at,
    )
    session.add(run)
    await session.flush()
    return run


async def add_deliveries(
    session: AsyncSession,
    run: Run,
    rows: Sequence[tuple[int, int, int, DeliveryStatus, str | None]],
    *,
    sent_at: datetime,
) -> dict[int, int]:
    """Inserts the rows; the delivery id of each subscriber."""
    values = [
        {
            "run_id": run.id,
            "subscriber_id": subscriber,
            "target_id": target,
            "variant_id": variant,
            "status": state,
            "reason": reason,
            "sent_at": sent_at if state is DeliveryStatus.SENT else None,
            "attempts": 1,
        }
        for subscriber, target, variant, state, reason in rows
    ]
    ids = await session.scalars(insert(Delivery).returning(Delivery.id), values)
    return dict(zip([row[0] for row in rows], ids.all(), strict=True))


async def _events(session: AsyncSession, s: list[int], deliveries: dict[int, int]) -> None:
    def event(
        index: int, kind: EventType, after: timedelta, delivery: bool = False
    ) -> dict[str, object]:
        return {
            "subscriber_id": s[index],
            "type": kind.value,
            "occurred_at": SENT_AT + after,
            "delivery_id": deliveries[s[index]] if delivery else None,
            "payload": {},
        }

    hour = timedelta(hours=1)
    await session.execute(
        insert(Event),
        [
            event(0, EventType.MESSAGE, hour),
            event(0, EventType.LINK_CLICK, hour, delivery=True),
            event(0, EventType.LINK_CLICK, 2 * hour, delivery=True),
            event(1, EventType.LINK_CLICK, 5 * hour, delivery=True),
            event(2, EventType.BLOCKED, 10 * hour),
            event(4, EventType.REACTION, 3 * hour),
            event(5, EventType.UNSUBSCRIBED, 50 * hour),
            event(10, EventType.MESSAGE, hour / 2),
            event(0, EventType.MESSAGE, -hour),  # before the send: not a read, not a reply
        ],
    )


async def _orders(session: AsyncSession, s: list[int]) -> None:
    day = timedelta(days=1)
    customers = {f"C{index + 1}": s[index] for index in (0, 1, 4, 5, 8)}
    await add_purchases(
        session,
        customers,
        [
            Purchase("C1", SENT_AT + 2 * day, 100.0),
            Purchase("C1", SENT_AT + 4 * day, 25.0),
            Purchase("C2", SENT_AT + day, 70.0, counts=False),  # refunded
            Purchase("C2", SENT_AT + 8 * day, 50.0),
            Purchase("C5", SENT_AT + day, 40.0, utm="other"),
            Purchase("C5", SENT_AT + 3 * day, 60.0),
            Purchase("C6", SENT_AT + 5 * day, 80.0, utm="spring"),
            Purchase("C9", SENT_AT + 2 * day, 30.0),
        ],
    )


@dataclass(frozen=True, slots=True)
class Purchase:
    customer: str  # the customer's external id
    at: datetime
    amount: float
    utm: str | None = None
    counts: bool = True  # False: refunded


async def add_purchases(
    session: AsyncSession, customers: Mapping[str, int], purchases: Sequence[Purchase]
) -> None:
    """CRM customers (external id -> the subscriber matched to them) and their orders, in
    EUR, each numbered after its customer (C1-0, C1-1...) in the order given."""
    rows = {
        external_id: Customer(
            source="shop",
            external_id=external_id,
            subscriber_id=subscriber_id,
            created_at=T0,
            updated_at=T0,
        )
        for external_id, subscriber_id in customers.items()
    }
    session.add_all(rows.values())
    await session.flush()
    session.add_all(
        Order(
            source="shop",
            external_id=f"{purchase.customer}-{number}",
            customer_id=rows[purchase.customer].id,
            ordered_at=purchase.at,
            amount=purchase.amount,
            currency="EUR",
            status="completed" if purchase.counts else "refunded",
            utm_campaign=purchase.utm,
            created_at=T0,
            updated_at=T0,
            counts_as_purchase=purchase.counts,
        )
        for number, purchase in enumerate(purchases)
    )
    await session.flush()
