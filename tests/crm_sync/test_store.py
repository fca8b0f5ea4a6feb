"""The set-based store through the worker: exact counts when a chunk mixes new, changed,
unchanged and rejected rows; orders moving between customers; stub customers."""

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.connectors import FilesConnector
from crm_sync.models import RejectedRow
from crm_sync.worker import run_sync
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ISO_DATES_ONLY,
    RULES,
    SteppingClock,
    customers_by_id,
    orders_by_id,
    write_csv,
)

ORDER_HEADER = ("order_id", "customer_id", "ordered_at", "amount", "currency", "status", "qty")
GOOD = ("2026-01-10T10:00:00Z", "10", "EUR", "completed", "1")


def shop(customers: Path | None, orders: Path | None) -> FilesConnector:
    return FilesConnector(
        name="shop", customers=customers, orders=orders, rules=RULES, chunk_rows=1_000
    )


async def test_a_chunk_mixing_good_rows_and_every_kind_of_bad_row(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(
        tmp_path / "customers.csv",
        CUSTOMER_HEADER,
        [("c1", "Ann", "+34600000001", "ann@example.com"), ("", "Nobody", "", ""), ("c" * 129,)],
    )
    bad_orders = [
        ("", "c1", *GOOD),
        ("o" * 129, "c1", *GOOD),
        ("b1", "", *GOOD),
        ("b2", "c" * 129, *GOOD),
        ("b3", "c1", "soon", "10", "EUR", "completed", "1"),
        ("b4", "c1", "2026-01-10T10:00:00Z", "ten", "EUR", "completed", "1"),
        ("b5", "c1", "2026-01-10T10:00:00Z", "1e13", "EUR", "completed", "1"),
        ("b6", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "completed", "two"),
        ("b7", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "completed", "1.5"),
        ("b8", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "completed", "-1"),
        ("b9", "c1", "2026-01-10T10:00:00Z", "10", "EURO", "completed", "1"),
    ]
    good_orders = [("o1", "c1", *GOOD), ("o2", "c9", *GOOD), ("o3", "c1", *GOOD)]
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [good_orders[0], *bad_orders[:6], good_orders[1], *bad_orders[6:], good_orders[2]],
    )

    summary = await run_sync(
        sessionmaker=sessionmaker, connector=shop(customers, orders), create_customers=True
    )

    assert summary.status == "succeeded", summary.error
    counts = {name: (c.read, c.inserted, c.rejected) for name, c in summary.streams.items()}
    assert counts == {"customers": (3, 1, 2), "orders": (14, 3, 11)}
    assert summary.streams["orders"].stub_customers == 1  # c9, named by an order only
    rejected = (
        await session.scalars(
            select(RejectedRow).where(RejectedRow.run_id == summary.run_id).order_by(RejectedRow.id)
        )
    ).all()
    assert [(r.kind, r.row_number, r.reason) for r in rejected] == [
        ("customers", 3, "missing customer id"),
        ("customers", 4, "customer id longer than 128"),
        ("orders", 3, "missing order id"),
        ("orders", 4, "order id longer than 128"),
        ("orders", 5, "missing customer id"),
        ("orders", 6, "customer id longer than 128"),
        ("orders", 7, ISO_DATES_ONLY),
        ("orders", 8, "missing or unparsable amount"),
        ("orders", 10, "amount too large"),
        ("orders", 11, "unparsable quantity"),
        ("orders", 12, "quantity is not a whole number"),
        ("orders", 13, "negative quantity on an order that is not a refund"),
        ("orders", 14, "unknown currency code"),
    ]
    assert rejected[-1].raw == dict(zip(ORDER_HEADER, bad_orders[-1], strict=True))
    stored = await orders_by_id(session)
    assert sorted(stored) == ["o1", "o2", "o3"]
    people = await customers_by_id(session)
    assert (people["c1"].orders_count, people["c9"].orders_count) == (2, 1)
    assert (people["c9"].name, people["c9"].attributes) == (None, {})


async def test_a_resync_counts_new_changed_and_unchanged_rows_exactly(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    clock: SteppingClock,
) -> None:
    customers = [("c1", "Ann", "+34600000001", ""), ("c2", "Bob", "", "bob@example.com")]
    orders = [("o1", "c1", *GOOD), ("o2", "c2", *GOOD), ("o3", "c2", *GOOD)]
    first = shop(
        write_csv(tmp_path / "c1.csv", CUSTOMER_HEADER, customers),
        write_csv(tmp_path / "o1.csv", ORDER_HEADER, orders),
    )
    await run_sync(sessionmaker=sessionmaker, connector=first, clock=clock)
    stamps = {key: o.updated_at for key, o in (await orders_by_id(session)).items()}

    customers[1] = ("c2", "Robert", "", "bob@example.com")
    orders[0] = ("o1", "c1", "2026-01-10T10:00:00Z", "10", "EUR", "refunded", "1")
    orders[2] = ("o3", "c1", *GOOD)  # o3 moves from Bob to Ann
    orders.append(("o4", "c2", *GOOD))
    second = shop(
        write_csv(tmp_path / "c2.csv", CUSTOMER_HEADER, customers),
        write_csv(tmp_path / "o2.csv", ORDER_HEADER, orders),
    )
    summary = await run_sync(sessionmaker=sessionmaker, connector=second, clock=clock)

    assert {s: (c.inserted, c.updated, c.unchanged) for s, c in summary.streams.items()} == {
        "customers": (0, 1, 1),
        "orders": (1, 2, 1),
    }
    stored = await orders_by_id(session)
    assert stored["o1"].status == "refunded"
    assert stored["o2"].updated_at == stamps["o2"]  # unchanged rows keep their stamp
    assert stored["o1"].updated_at > stamps["o1"]
    people = await customers_by_id(session)
    assert people["c2"].name == "Robert"
    # Ann: o1 refunded, o3 gained; Bob: o3 lost, o4 gained (his facts refreshed too).
    assert (people["c1"].orders_count, people["c1"].total_spent) == (1, 10.0)
    assert (people["c2"].orders_count, people["c2"].total_spent) == (2, 20.0)
    assert stored["o3"].customer_id == people["c1"].id

    again = await run_sync(sessionmaker=sessionmaker, connector=second, full=True, clock=clock)
    assert (again.total("inserted"), again.total("updated"), again.total("unchanged")) == (0, 0, 6)


async def test_a_stored_order_now_naming_an_unknown_customer_is_rejected_not_kept(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(tmp_path / "c.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    orders = [("o1", "c1", *GOOD), ("o2", "c1", *GOOD)]
    first = shop(customers, write_csv(tmp_path / "o1.csv", ORDER_HEADER, orders))
    await run_sync(sessionmaker=sessionmaker, connector=first)

    orders = [("o1", "c1", *GOOD), ("o2", "c7", *GOOD), ("o3", "c8", *GOOD), ("o4", "c1", *GOOD)]
    second = shop(None, write_csv(tmp_path / "o2.csv", ORDER_HEADER, orders))
    summary = await run_sync(sessionmaker=sessionmaker, connector=second)

    counts = summary.streams["orders"]
    assert (counts.inserted, counts.updated, counts.unchanged, counts.rejected) == (1, 0, 1, 2)
    rejected = await session.scalars(
        select(RejectedRow.external_id)
        .where(RejectedRow.run_id == summary.run_id)
        .order_by(RejectedRow.external_id)
    )
    assert list(rejected) == ["o2", "o3"]
    stored = await orders_by_id(session)
    assert sorted(stored) == ["o1", "o2", "o4"]  # o2 stays as it was, with Ann


async def test_refunding_a_customers_last_purchase_leaves_them_none(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_files: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """An incremental sync refreshes the facts of the customers of the orders it wrote."""
    await run_sync(sessionmaker=sessionmaker, connector=shop(*shop_files))
    refund = [("o3", "c2", "2026-02-01T12:00:00Z", "30", "EUR", "refunded", "1")]
    refunds = shop(None, write_csv(tmp_path / "refund.csv", ORDER_HEADER, refund))

    summary = await run_sync(sessionmaker=sessionmaker, connector=refunds)

    assert summary.streams["orders"].updated == 1
    bob = (await customers_by_id(session))["c2"]  # o4, his other order, was refunded already
    assert (bob.orders_count, bob.total_spent, bob.average_order_value) == (0, 0.0, None)
    assert (bob.first_order_at, bob.last_order_at) == (None, None)
