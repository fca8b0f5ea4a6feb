"""Orders read before their customer is linked wait for the link: many of them (a shop's
whole history, of customers no subscriber matches) cost one look now and then, in short
statements, and an order whose customer is linked later becomes a purchase, once. Such a
history is read over several rounds, and the steps due meanwhile go in each."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Subscriber
from crm_sync.models import Customer
from journeys.feed import journey_feeds
from journeys.purchases import CHUNK, RECHECK, Purchases
from journeys.runner import FEED_BATCH, JourneyRunner
from tests.journeys.harness import SERIES, FakeClock, Journeys, shop_history

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
UNLINKED = 3 * CHUNK + 7  # statements of CHUNK ids each, and a short one
CHAT = 987_654_321  # nobody else's, nor are the customers' source and ids


async def test_orders_waiting_for_their_link_become_purchases_once_linked(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    clock = FakeClock(NOW)
    _, orders = journey_feeds()
    purchases = Purchases(orders, clock=clock)
    assert await purchases.read(sessionmaker, limit=10) == (0, [])  # follows from here on
    async with sessionmaker() as session:
        await shop_history(session, UNLINKED, at=NOW)
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


async def test_a_history_being_read_does_not_hold_up_the_steps_due(world: Journeys) -> None:
    world.runner = JourneyRunner(world.sessionmaker, clock=world.clock, feed_batches=2)
    await world.start()
    await world.save(SERIES)
    await world.subscribe(1)
    await world.round()
    async with world.sessionmaker() as session:
        await shop_history(session, 3 * FEED_BATCH, at=world.clock())
    world.clock.advance(days=1)

    first = await world.round()

    assert (first.orders, first.behind) == (2 * FEED_BATCH, True)
    assert world.texts(1) == ["Hello", "Later"]
    rest = await world.round()
    assert (rest.orders, rest.behind) == (FEED_BATCH, False)
