"""An incremental sync brings purchase facts up to date from what each changed order was
and is, batch by batch, without reading the customers' other orders: on random shops and
random changes (refunds, new amounts and dates, orders moving between customers or to
one the shop does not have, new orders, orders as they were) the facts agree with a
recomputation from the orders."""

from itertools import count
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.connectors import FilesConnector
from crm_sync.facts import refresh_facts
from crm_sync.models import Customer
from crm_sync.worker import run_sync
from tests.crm_sync.shop import CUSTOMER_HEADER, ORDER_HEADER, RULES, SteppingClock, write_csv

CUSTOMERS = [f"c{n}" for n in range(3)]
# Few days and amounts, so that orders share dates and sums cancel out; enough days that
# a customer's orders often lie between their first and last.
DAYS = [f"2026-0{month}-10T10:00:00Z" for month in range(1, 7)]
AMOUNTS = ["0", "10.10", "20.20", "33.33", "-5"]
STATUSES = ["completed", "shipped", "refunded", "cancelled"]

Order = tuple[str, str, str, str, str, str]


def orders(ids: list[str], *, customers: list[str]) -> st.SearchStrategy[list[Order]]:
    """An order for each of `ids`, each naming one of `customers`."""
    one = st.tuples(
        st.sampled_from(customers),
        st.sampled_from(DAYS),
        st.sampled_from(AMOUNTS),
        st.sampled_from(STATUSES),
    )
    return st.lists(one, min_size=len(ids), max_size=len(ids)).map(
        lambda rows: [
            (order, customer, day, amount, "EUR", status)
            for order, (customer, day, amount, status) in zip(ids, rows, strict=True)
        ]
    )


@st.composite
def changed(draw: st.DrawFn, order: Order) -> Order:
    """`order` as a later export says it: as it was, or with some of its customer (maybe
    one the shop does not have), date, amount and status changed."""
    order_id, customer, day, amount, currency, status = order
    fields = draw(st.sets(st.sampled_from(["customer", "day", "amount", "status"])))
    if "customer" in fields:
        customer = draw(st.sampled_from([*CUSTOMERS, "c9"]))
    if "day" in fields:
        day = draw(st.sampled_from(DAYS))
    if "amount" in fields:
        amount = draw(st.sampled_from(AMOUNTS))
    if "status" in fields:
        status = draw(st.sampled_from(STATUSES))
    return order_id, customer, day, amount, currency, status


@st.composite
def shops_and_changes(draw: st.DrawFn) -> tuple[list[Order], list[Order], int]:
    """A shop's orders, then what a later export of it says (each order as it was or
    changed, and new ones, in any order), and the rows of a chunk."""
    stored = draw(orders([f"o{n}" for n in range(draw(st.integers(1, 14)))], customers=CUSTOMERS))
    export = [draw(changed(order)) for order in stored]
    export += draw(orders([f"n{n}" for n in range(draw(st.integers(0, 4)))], customers=CUSTOMERS))
    order = draw(st.permutations(range(len(export))))
    return stored, [export[n] for n in order], draw(st.integers(1, 4))


async def facts(session: AsyncSession, source: str) -> dict[str, tuple[object, ...]]:
    """Each customer's facts; money to the millionth (SQLite sums floats)."""
    rows = await session.execute(
        select(
            Customer.external_id,
            Customer.orders_count,
            Customer.total_spent,
            Customer.average_order_value,
            Customer.first_order_at,
            Customer.last_order_at,
        ).where(Customer.source == source)
    )
    return {
        name: (n, round(spent, 6), None if average is None else round(average, 6), *dates)
        for name, n, spent, average, *dates in rows
    }


sources = count()


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=shops_and_changes())
async def test_followed_facts_agree_with_a_recomputation(
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    case: tuple[list[Order], list[Order], int],
) -> None:
    stored, export, chunk_rows = case
    source = f"shop{next(sources)}"  # each example its own shop
    customers = write_csv(
        tmp_path / "customers.csv", CUSTOMER_HEADER, [(c, c, "", "") for c in CUSTOMERS]
    )
    clock = SteppingClock()
    for name, sold in (("stored", stored), ("export", export)):
        connector = FilesConnector(
            name=source,
            customers=customers if name == "stored" else None,
            orders=write_csv(tmp_path / f"{name}.csv", ORDER_HEADER, sold),
            rules=RULES,
            chunk_rows=chunk_rows,
        )
        summary = await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)
        assert summary.status == "succeeded", summary.error

    async with sessionmaker() as session:
        followed = await facts(session, source)
        ids = await session.scalars(select(Customer.id).where(Customer.source == source))
        await refresh_facts(session, customer_ids=list(ids))
        assert await facts(session, source) == followed
        await session.rollback()
