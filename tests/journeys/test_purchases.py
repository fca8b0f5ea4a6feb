"""Orders read before their customer is linked wait for the link: many of them (a shop's
whole history, of customers no subscriber matches) cost one look now and then, in short
statements, and an order whose customer is linked later becomes a purchase, once."""

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Subscriber
from crm_sync.models import Customer, Order
from journeys.feed import journey_feeds
from journeys.purchases import CHUNK, RECHECK, Purchases
from tests.journeys.harness import FakeClock

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
UNLINKED = 3 * CHUNK + 7  # statements of CHUNK ids each, and a short one
CHAT = 987_654_321  # nobody else's, nor are the customers' source and ids


async def shop_history(session: AsyncSession) -> None:
    """UNLINKED customers, one order each, none of them linked to a subscriber."""
    stamps = {"created_at": NOW, "updated_at": NOW}
    await session.execute(
        insert(Customer),
        [
            {"source": "history", "external_id": f"c{n}", "attributes": {}, **stamps}
            for n in range(UNLINKED)
        ],
    )
    rows = await session.execute(select(Customer.external_id, Customer.id))
    ids = dict(rows.all())
    await session.execute(
        insert(Order),
        [
            {
                "source": "history",
                "external_id": f"o{n}",
                "customer_id": ids[f"c{n}"],
                "ordered_at": NOW,
                "amount": Decimal("20.00"),
                **stamps,
            }
            for n in range(UNLINKED)
        ],
    )
    await session.commit()


async def test_orders_waiting_for_their_link_become_purchases_once_linked(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(NOW)
    _, orders = journey_feeds()
    purchases = Purchases(orders, clock=clock)
    assert await purchases.read(sessionmaker, limit=10) == (0, [])  # follows from here on
    async with sessionmaker() as session:
        await shop_history(session)
    read, bought = await purchases.read(sessionmaker, limit=UNLINKED + 10)
    assert (read, bought) == (UNLINKED, [])
    assert await purchases.read(sessionmaker, limit=10) == (0, [])  # all still unlinked

    async with sessionmaker() as session:
        subscriber = Subscriber(telegram_id=CHAT, chat_id=CHAT, subscribed_at=NOW, last_seen_at=NOW)
        session.add(subscriber)
        await session.flush()
        linked = update(Customer).where(Customer.external_id == "c1000")
        await session.execute(linked.values(subscriber_id=subscriber.id))
        await session.commit()
    assert await purchases.read(sessionmaker, limit=10) == (0, [])  # looked at now and then
    clock.advance(seconds=RECHECK.total_seconds())
    read, bought = await purchases.read(sessionmaker, limit=10)
    assert read == 0
    assert [(row.subscriber_id, float(row.amount)) for row in bought] == [(subscriber.id, 20.0)]
    clock.advance(seconds=RECHECK.total_seconds())
    assert await purchases.read(sessionmaker, limit=10) == (0, [])  # once
