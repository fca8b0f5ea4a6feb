"""The purchase facts per subscriber follow every change of customer facts and links."""

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.connectors import FilesConnector
from crm_sync.matching import link_by_deep_link, match_subscriber, unlink_subscriber
from crm_sync.models import Customer, SubscriberPurchases
from crm_sync.worker import run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    RULES,
    SubscriberFactory,
    write_csv,
)

Sums = dict[int, tuple[int, int, float, datetime | None]]


async def stored_sums(session: AsyncSession) -> Sums:
    rows = await session.scalars(
        select(SubscriberPurchases).execution_options(populate_existing=True)
    )
    return {
        row.subscriber_id: (row.customers, row.orders_count, row.total_spent, row.last_order_at)
        for row in rows
    }


async def sums_of_customers(session: AsyncSession) -> Sums:
    """The same sums, worked out here from every linked customer's facts."""
    sums: Sums = {}
    linked = select(Customer).where(Customer.subscriber_id.is_not(None))
    for customer in await session.scalars(linked.execution_options(populate_existing=True)):
        assert customer.subscriber_id is not None
        customers, orders, spent, last = sums.get(customer.subscriber_id, (0, 0, 0.0, None))
        lasts = [moment for moment in (last, customer.last_order_at) if moment is not None]
        sums[customer.subscriber_id] = (
            customers + 1,
            orders + customer.orders_count,
            spent + customer.total_spent,
            max(lasts, default=None),
        )
    return sums


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    directory: Path,
    *,
    source: str,
    customers: list[tuple[str, str, str, str]],
    orders: list[tuple[str, str, str, str, str, str]],
) -> None:
    connector = FilesConnector(
        name=source,
        customers=write_csv(directory / f"{source}-customers.csv", CUSTOMER_HEADER, customers),
        orders=write_csv(directory / f"{source}-orders.csv", ORDER_HEADER, orders),
        rules=RULES,
    )
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector, full=True)
    assert summary.status == "succeeded", summary.error


async def test_the_sums_follow_syncs_links_and_erasure(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    ann = subscriber_factory(phone="+34600000001", email="ann@example.com")
    bob = subscriber_factory(email="bob@example.com")
    await session.commit()
    shop_orders = [
        ("o1", "c1", "2026-01-10T10:00:00Z", "100.00", "EUR", "completed"),
        ("o2", "c1", "2026-03-10T10:00:00Z", "50.50", "EUR", "completed"),
        ("o3", "c2", "2026-02-01T12:00:00Z", "30", "EUR", "completed"),
    ]
    shop_customers = [
        ("c1", "Ann", "600 000 001", ""),
        ("c2", "Bob", "", "bob@example.com"),
        ("c3", "Cy", "", ""),
    ]
    await sync(sessionmaker, tmp_path, source="shop", customers=shop_customers, orders=shop_orders)
    sums = await stored_sums(session)
    assert sums == await sums_of_customers(session)
    assert {subscriber: sums[subscriber][:3] for subscriber in sums} == {
        ann.id: (1, 2, 150.50),
        bob.id: (1, 1, 30.0),
    }

    # Ann is a customer of a second shop too: her sums add up over both.
    pos_orders = [("p1", "x9", "2026-05-01T10:00:00Z", "20", "EUR", "completed")]
    pos_customers = [("x9", "Ann", "", "ann@example.com")]
    await sync(sessionmaker, tmp_path, source="pos", customers=pos_customers, orders=pos_orders)
    assert (await stored_sums(session))[ann.id][:3] == (2, 3, 170.50)

    # A refund re-synced: the customer's facts and the subscriber's sums both drop.
    shop_orders[1] = ("o2", "c1", "2026-03-10T10:00:00Z", "50.50", "EUR", "refunded")
    await sync(sessionmaker, tmp_path, source="shop", customers=shop_customers, orders=shop_orders)
    assert (await stored_sums(session))[ann.id][:3] == (2, 2, 120.0)
    assert await stored_sums(session) == await sums_of_customers(session)

    # Bob opens Cy's signed link: now linked to c3 (no orders) instead of c2.
    await link_by_deep_link(session, subscriber_id=bob.id, source="shop", external_id="c3")
    assert (await stored_sums(session))[bob.id][:3] == (1, 0, 0.0)
    # Ann's phone changes: the phone link to c1 goes, the email link to x9 stays.
    ann.phone = "+34600000999"
    await match_subscriber(session, subscriber_id=ann.id)
    assert (await stored_sums(session))[ann.id][:3] == (1, 1, 20.0)
    assert await stored_sums(session) == await sums_of_customers(session)

    # Erasure cuts every link: no sums left for Ann.
    await unlink_subscriber(session, subscriber_id=ann.id)
    await session.commit()
    assert ann.id not in await stored_sums(session)
    assert await stored_sums(session) == await sums_of_customers(session)
