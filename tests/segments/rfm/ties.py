"""A shop of ten customers with ties in every measure, and its RFM scores worked out by
hand: n = 10, so a tie whose first customer sits at 0-based position i scores i // 2 + 1.
As frames for `rfm.score` (`orders`, `summary`), or stored in the test database
(`add_shop`)."""

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Subscriber
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer, Order
from segments.rfm.scoring import SUMMARY_COLUMNS

AS_OF = date(2026, 11, 1)
Buyer = tuple[int, int, int, float]  # (number, recency_days, frequency, monetary)

# Numbers in no helpful order: ids must not matter.
CUSTOMERS: list[Buyer] = [
    (11, 3, 1, 50.0),
    (12, 3, 2, 80.0),
    (13, 40, 1, 50.0),
    (14, 3, 1, 20.0),
    (15, 10, 5, 80.0),
    (16, 40, 1, 50.0),
    (17, 200, 3, 300.0),
    (18, 10, 2, 50.0),
    (19, 3, 1, 80.0),
    (20, 90, 1, 20.0),
]
# Recency, most days first: 200 (i=0), 90 (i=1), 40 x2 (i=2), 10 x2 (i=4), 3 x4 (i=6).
# The four most recent score 4, not 5: a tie scores as its first customer would.
R = {17: 1, 20: 1, 13: 2, 16: 2, 15: 3, 18: 3, 11: 4, 12: 4, 14: 4, 19: 4}
# Frequency, ascending: 1 order x6 (i=0), 2 x2 (i=6), 3 (i=8), 5 (i=9).
F = {11: 1, 13: 1, 14: 1, 16: 1, 19: 1, 20: 1, 12: 4, 18: 4, 17: 5, 15: 5}
# Monetary, ascending: 20 x2 (i=0), 50 x4 (i=2), 80 x3 (i=6), 300 (i=9).
M = {14: 1, 20: 1, 11: 2, 13: 2, 16: 2, 18: 2, 12: 4, 15: 4, 19: 4, 17: 5}
SEVEN: list[Buyer] = [(number, 5, 1, 50.0) for number in range(1, 8)]  # all alike
SEGMENTS = {  # the default map's names of each R/F cell
    11: "promising",  # R4 F1
    12: "loyal",  # R4 F4
    13: "hibernating",  # R2 F1
    14: "promising",
    15: "loyal",  # R3 F5
    16: "hibernating",
    17: "cant_lose",  # R1 F5
    18: "loyal",  # R3 F4
    19: "promising",
    20: "hibernating",  # R1 F1
}


def order_rows(*customers: Buyer, as_of: date = AS_OF) -> list[tuple[int, str, float]]:
    """(number, ISO time, amount) per order: the last order `recency_days` before `as_of`
    at noon UTC, the others a month apart before it, the money split evenly."""
    return [
        (number, f"{as_of - timedelta(days=recency + 30 * n)}T12:00:00+00:00", money / frequency)
        for number, recency, frequency, money in customers
        for n in range(frequency)
    ]


def orders(*customers: Buyer) -> pd.DataFrame:
    """The orders frame `rfm.score` takes, customer_id being the number."""
    rows = order_rows(*customers)
    return pd.DataFrame(
        {
            "customer_id": [row[0] for row in rows],
            "ordered_at": pd.to_datetime([row[1] for row in rows], utc=True),
            "amount": [row[2] for row in rows],
        }
    )


def summary(*customers: Buyer) -> pd.DataFrame:
    """The per-customer summary (SUMMARY_COLUMNS) `rfm.score_summary` takes."""
    return pd.DataFrame(
        {
            "customer_id": [customer[0] for customer in customers],
            "last_ordered_at": pd.to_datetime(
                [f"{AS_OF - timedelta(days=customer[1])}T12:00:00Z" for customer in customers],
                utc=True,
            ),
            "frequency": [customer[2] for customer in customers],
            "monetary": [customer[3] for customer in customers],
        },
        columns=SUMMARY_COLUMNS,
    )


async def add_shop(
    session: AsyncSession, customers: list[Buyer], *, now: datetime
) -> dict[int, int]:
    """Store the customers (external id: the number) with their orders as of the day of
    `now`, each linked to a subscriber (Telegram id: the number), and their purchase
    facts; commits. The customers' ids by number."""
    ids = {}
    for number, *_ in customers:
        subscriber = Subscriber(
            telegram_id=number, chat_id=number, subscribed_at=now, last_seen_at=now, attributes={}
        )
        session.add(subscriber)
        await session.flush()
        customer = Customer(
            source="shop", external_id=str(number), attributes={}, subscriber_id=subscriber.id,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(customer)
        await session.flush()
        ids[number] = customer.id
    for position, (number, ordered_at, amount) in enumerate(
        order_rows(*customers, as_of=now.date())
    ):
        session.add(
            Order(
                source="shop", external_id=f"{number}-{position}", customer_id=ids[number],
                ordered_at=datetime.fromisoformat(ordered_at), amount=amount,
                created_at=now, updated_at=now,
            )
        )  # fmt: skip
    await refresh_facts(session, customer_ids=ids.values())  # as the CRM sync does
    await session.commit()
    return ids
