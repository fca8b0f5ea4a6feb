"""Values a broken or hostile CRM export holds (NUL characters, amounts at the columns'
limits, local times a clock change repeats or skips, decimal commas): each row is read
right or rejected with a reason naming what is wrong, the rest imports, and the run
succeeds, alike on SQLite and PostgreSQL."""

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.config import RecordRules
from crm_sync.connectors import FilesConnector
from crm_sync.models import RejectedRow, SubscriberPurchases
from crm_sync.worker import SyncSummary, run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ORDER_HEADER,
    RULES,
    SubscriberFactory,
    customers_by_id,
    orders_by_id,
    write_csv,
)


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    customers: Path | None,
    orders: Path | None,
    rules: RecordRules = RULES,
) -> SyncSummary:
    connector = FilesConnector(name="shop", customers=customers, orders=orders, rules=rules)
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)
    assert summary.status == "succeeded", summary.error
    return summary


async def rejections(session: AsyncSession, summary: SyncSummary) -> list[tuple[object, ...]]:
    rows = await session.scalars(
        select(RejectedRow)
        .where(RejectedRow.run_id == summary.run_id)
        .order_by(RejectedRow.kind, RejectedRow.row_number)
    )
    return [(r.kind, r.row_number, r.external_id, r.reason) for r in rows]


def order(order_id: str, amount: str, *, customer: str = "c1") -> tuple[str, ...]:
    return (order_id, customer, "2026-01-10T10:00:00Z", amount, "EUR", "completed")


async def sync_amounts(
    sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path, amounts: list[str]
) -> SyncSummary:
    """Ann (c1) and an order of hers for each amount, o1, o2, ... in order."""
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    rows = [order(f"o{number}", amount) for number, amount in enumerate(amounts, start=1)]
    orders = write_csv(tmp_path / "orders.csv", ORDER_HEADER, rows)
    return await sync(sessionmaker, customers, orders)


async def test_a_nul_character_rejects_its_row_naming_the_field(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(
        tmp_path / "customers.csv",
        (*CUSTOMER_HEADER, "city"),
        [
            ("c1", "Ann", "", "", "Madrid"),
            ("c2", "B\x00ob", "", "", ""),
            ("c\x003", "Cy", "", "", ""),
            ("c4", "Di", "", "di@exam\x00ple.com", ""),
            ("c5", "Ed", "", "", "Sevi\x00lla"),
        ],
    )
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            order("o1", "10"),
            ("o2", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "paid\x00"),
            ("o\x003", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "completed"),
            ("o4", "c\x001", "2026-01-10T10:00:00Z", "10", "EUR", "completed"),
            ("o5", "c1", "2026-01-10T10:00:00Z\x00", "10", "EUR", "completed"),
        ],
    )

    rules = RULES.model_copy(update={"attributes": {"city": "city"}})
    summary = await sync(sessionmaker, customers, orders, rules)

    assert sorted(await customers_by_id(session)) == ["c1"]
    assert sorted(await orders_by_id(session)) == ["o1"]
    assert await rejections(session, summary) == [
        ("customers", 3, "c2", "name contains a NUL character"),
        ("customers", 4, "c\ufffd3", "customer id contains a NUL character"),
        ("customers", 5, "c4", "email contains a NUL character"),
        ("customers", 6, "c5", "attribute city contains a NUL character"),
        ("orders", 3, "o2", "status contains a NUL character"),
        ("orders", 4, "o\ufffd3", "order id contains a NUL character"),
        ("orders", 5, "o4", "customer id contains a NUL character"),
        ("orders", 6, "o5", "order date contains a NUL character"),
    ]
    (kept,) = await session.scalars(select(RejectedRow).where(RejectedRow.external_id == "c2"))
    assert kept.raw == {
        "customer_id": "c2",
        "name": "B\x00ob",
        "phone": None,
        "email": None,
        "city": None,
    }


async def test_an_amount_that_rounds_to_the_limit_is_rejected(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    amounts = ["999999999999.999", "-999999999999.999", "99999999999.995", "99999999999.99"]
    summary = await sync_amounts(sessionmaker, tmp_path, amounts)

    assert await rejections(session, summary) == [
        ("orders", 2, "o1", "amount too large"),
        ("orders", 3, "o2", "amount too large"),
        ("orders", 4, "o3", "amount too large"),
    ]
    assert (await orders_by_id(session))["o4"].amount == 99_999_999_999.99


async def test_totals_of_many_orders_at_the_limit_fit_and_later_runs_succeed(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    subscriber = subscriber_factory(phone="+34600000001")
    await session.commit()
    customers = write_csv(
        tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "600 000 001", "")]
    )
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [order(f"o{n}", "99999999999.99") for n in range(20)],
    )

    await sync(sessionmaker, customers, orders)
    write_csv(customers, CUSTOMER_HEADER, [("c1", "Ann", "600 000 001", ""), ("c2", "Bob", "", "")])
    again = await sync(sessionmaker, customers, None)

    assert again.streams["customers"].inserted == 1
    ann = (await customers_by_id(session))["c1"]
    assert (ann.subscriber_id, ann.orders_count) == (subscriber.id, 20)
    assert ann.total_spent == pytest.approx(1_999_999_999_999.80, abs=0.005)
    assert ann.average_order_value == 99_999_999_999.99
    purchases = await session.get(SubscriberPurchases, subscriber.id)
    assert purchases is not None
    assert purchases.total_spent == pytest.approx(1_999_999_999_999.80, abs=0.005)


async def test_a_local_time_a_clock_change_repeats_or_skips_is_read(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [
            ("o1", "c1", "2025-10-26 02:30", "10", "EUR", "completed"),  # twice, +02:00 first
            ("o2", "c1", "2025-03-30 02:30", "10", "EUR", "completed"),  # never: 03:00 +02:00
            ("o3", "c1", "2025-07-01 02:30", "10", "EUR", "completed"),
        ],
    )

    summary = await sync(
        sessionmaker, customers, orders, RecordRules(default_region="ES", timezone="Europe/Madrid")
    )

    assert await rejections(session, summary) == []
    stored = await orders_by_id(session)
    assert {key: order.ordered_at.isoformat() for key, order in stored.items()} == {
        "o1": "2025-10-26T00:30:00+00:00",
        "o2": "2025-03-30T01:00:00+00:00",
        "o3": "2025-07-01T00:30:00+00:00",
    }


async def test_a_comma_after_a_leading_zero_is_a_decimal_comma(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    amounts = ["0,750", "-0,500", "€0,250", "1,500", "12,500"]
    summary = await sync_amounts(sessionmaker, tmp_path, amounts)

    assert await rejections(session, summary) == []
    stored = await orders_by_id(session)
    assert {key: order.amount for key, order in stored.items()} == {
        "o1": 0.75,
        "o2": -0.5,
        "o3": 0.25,
        "o4": 1500.0,  # a thousands separator, as in English: nothing here is European
        "o5": 12500.0,
    }
    ann = (await customers_by_id(session))["c1"]
    assert (ann.orders_count, ann.total_spent) == (4, 14001.0)
