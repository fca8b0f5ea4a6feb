"""The SQL connector against a real source database (the same kind as the test database)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    insert,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine
from crm_sync.connectors import SqlConnector
from crm_sync.fields import Stream
from crm_sync.worker import run_sync
from tests.crm_sync.shop import RULES, SteppingClock, customers_by_id, orders_by_id

shop = MetaData()
clients = Table(
    "clients",
    shop,
    Column("id", Integer, primary_key=True),
    Column("full_name", String(100)),
    Column("mobile", String(30)),
    Column("modified", DateTime(timezone=True)),
)
sales = Table(
    "sales",
    shop,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer),
    Column("created", DateTime(timezone=True)),
    Column("total", Numeric(10, 2)),
    Column("state", String(20)),
    Column("modified", DateTime(timezone=True)),
)
OLD = datetime(2026, 10, 1, tzinfo=UTC)
QUERIES: dict[Stream, str] = {
    "customers": "SELECT id AS customer_id, full_name AS name, mobile AS phone "
    "FROM clients WHERE modified >= :since",
    "orders": "SELECT id AS order_id, client_id AS customer_id, created AS ordered_at, "
    "total AS amount, state AS status FROM sales WHERE modified >= :since",
}


@pytest.fixture
async def shop_database(fresh_database_url: str) -> AsyncIterator[str]:
    engine = create_engine(fresh_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(shop.create_all)
        await connection.execute(
            insert(clients),
            [
                {"id": 1, "full_name": "Ann", "mobile": "600000001", "modified": OLD},
                {"id": 2, "full_name": "Bob", "mobile": None, "modified": OLD},
            ],
        )
        await connection.execute(
            insert(sales),
            [
                {
                    "id": 10,
                    "client_id": 1,
                    "created": OLD,
                    "total": 25,
                    "state": "paid",
                    "modified": OLD,
                },
                {
                    "id": 11,
                    "client_id": 1,
                    "created": OLD,
                    "total": 75,
                    "state": "paid",
                    "modified": OLD,
                },
                {
                    "id": 12,
                    "client_id": 2,
                    "created": None,
                    "total": 5,
                    "state": "paid",
                    "modified": OLD,
                },
            ],
        )
    yield fresh_database_url
    await engine.dispose()


async def test_sql_source_full_then_incremental(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    shop_database: str,
    clock: SteppingClock,
) -> None:
    connector = SqlConnector(
        name="shop", url=shop_database, queries=QUERIES, rules=RULES, clock=clock
    )

    first = await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)

    assert first.status == "succeeded", first.error
    assert {s: (c.read, c.inserted, c.rejected) for s, c in first.streams.items()} == {
        "customers": (2, 2, 0),
        "orders": (3, 2, 1),  # sale 12 has no date
    }
    ann = (await customers_by_id(session))["1"]
    assert (ann.name, ann.phone, ann.orders_count, ann.total_spent) == (
        "Ann",
        "+34600000001",
        2,
        100.0,
    )

    # The shop refunds sale 11; only what changed since the last pass is read.
    engine = create_engine(shop_database)
    async with engine.begin() as connection:
        await connection.execute(
            update(sales)
            .where(sales.c.id == 11)
            .values(state="refunded", modified=clock() + timedelta(hours=1))
        )
    await engine.dispose()

    second = await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)

    assert second.status == "succeeded", second.error
    assert {s: (c.read, c.updated) for s, c in second.streams.items()} == {
        "customers": (0, 0),
        "orders": (1, 1),
    }
    assert (await orders_by_id(session))["11"].status == "refunded"
    ann = (await customers_by_id(session))["1"]
    assert (ann.orders_count, ann.total_spent) == (1, 25.0)


async def test_a_broken_query_fails_the_run_with_the_database_reason(
    sessionmaker: async_sessionmaker[AsyncSession], shop_database: str
) -> None:
    connector = SqlConnector(
        name="shop",
        url=shop_database,
        queries={"orders": "SELECT * FROM no_such_table WHERE x >= :since"},
        rules=RULES,
    )
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)
    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.startswith("shop: the orders query failed:")
    assert "no_such_table" in summary.error  # the query names it: it stays


async def test_a_value_the_database_quotes_in_its_error_is_left_out_of_the_run_error(
    sessionmaker: async_sessionmaker[AsyncSession], shop_database: str
) -> None:
    if shop_database.startswith("sqlite"):
        pytest.skip("SQLite casts 'Ann' to 0 rather than failing on the row")
    query = (
        "SELECT id AS customer_id, CAST(full_name AS integer) AS name FROM clients "
        "WHERE modified >= :since"
    )
    connector = SqlConnector(
        name="shop", url=shop_database, queries={"customers": query}, rules=RULES
    )
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)
    assert summary.status == "failed"
    assert summary.error == (
        "shop: the customers query failed: InvalidTextRepresentationError: "
        'invalid input syntax for type integer: "…"'
    )


async def test_a_query_without_a_needed_column_fails_before_anything_is_stored(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, shop_database: str
) -> None:
    queries: dict[Stream, str] = {
        "customers": QUERIES["customers"],
        "orders": "SELECT id AS order_id, client_id AS customer_id, created AS ordered_at "
        "FROM sales WHERE modified >= :since;",
    }
    connector = SqlConnector(name="shop", url=shop_database, queries=queries, rules=RULES)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.startswith("shop orders query: no column for amount; columns found: ")
    assert "name them with AS" in summary.error
    assert await customers_by_id(session) == {}
