"""HTTP connectors against a local fake CRM: RetailCRM v5 paging, retries honouring
Retry-After on 429 and backing off on 500, bad credentials, resume mid-pass, and a generic
cursor-paged API."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.config import CrmConfig, load_crm_config
from crm_sync.connectors import build_connector
from crm_sync.models import Order, SyncCursor
from crm_sync.worker import SyncSummary, run_sync
from tests.crm_sync.fake_crm import (
    API_KEY,
    Failure,
    FakeCrm,
    retail_config,
    retail_customer,
    retail_order,
    serve,
)
from tests.crm_sync.shop import SteppingClock, customers_by_id, orders_by_id

ENV = {"RETAILCRM_KEY": API_KEY}


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm(
        customers=[retail_customer(n) for n in range(1, 46)],  # 3 pages of 20
        orders=[retail_order(n, customer=1 + n % 45) for n in range(1, 31)],  # 2 pages
    )


@pytest.fixture
async def base_url(crm: FakeCrm) -> AsyncIterator[str]:
    async with serve(crm) as url:
        yield url


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    config: CrmConfig,
    sleeps: Sleeps,
    clock: SteppingClock,
    environ: dict[str, str] = ENV,
) -> SyncSummary:
    connector = build_connector(
        config.connectors[0], crm=config, environ=environ, clock=clock, sleep=sleeps
    )
    return await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)


async def test_retailcrm_pages_through_customers_and_orders_with_retries(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    crm: FakeCrm,
    base_url: str,
    clock: SteppingClock,
) -> None:
    crm.failures[("customers", 2)] = [Failure(429, {"Retry-After": "7"})]
    crm.failures[("orders", 1)] = [Failure(500)]
    sleeps = Sleeps()

    summary = await sync(sessionmaker, retail_config(base_url), sleeps, clock)

    assert summary.status == "succeeded", summary.error
    assert sleeps.waits == [7.0, 1.0]  # Retry-After honoured; then exponential backoff
    assert crm.requests == [
        ("customers", 1, 200),
        ("customers", 2, 429),
        ("customers", 2, 200),
        ("customers", 3, 200),
        ("orders", 1, 500),
        ("orders", 1, 200),
        ("orders", 2, 200),
    ]
    assert all("apiKey" not in query for query in crm.queries)  # the key goes in a header
    customers = await customers_by_id(session, "retail")
    assert len(customers) == 45
    first = customers["1"]
    assert (first.name, first.phone, first.email) == (
        "Name1 Lee",
        "+34600000001",
        "user1@example.com",
    )
    orders = await orders_by_id(session, "retail")
    assert len(orders) == 30
    order = orders["1001"]
    assert order.ordered_at.isoformat() == "2026-02-01T09:00:00+00:00"  # Moscow time in the API
    assert (order.amount, order.currency, order.utm_campaign) == (10.5, "EUR", "spring")
    assert customers["2"].orders_count == 1


async def test_the_next_sync_asks_only_for_what_changed(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    crm: FakeCrm,
    base_url: str,
    clock: SteppingClock,
) -> None:
    config = retail_config(base_url)
    await sync(sessionmaker, config, Sleeps(), clock)
    crm.queries.clear()
    crm.orders[0] = retail_order(1, customer=2, status="returned")
    crm.updated[("orders", 1001)] = "2030-01-01 00:00:00"

    again = await sync(sessionmaker, config, Sleeps(), clock)

    assert again.status == "succeeded"
    since = [query.get("filter[updatedAtFrom]") for query in crm.queries]
    # Each stream asks from its last pass's start (09:00 UTC) less 5 minutes, in Moscow time.
    assert len(since) == 2
    assert all(value is not None and value.startswith("2026-11-02 11:55:") for value in since)
    streams = again.streams
    assert (streams["customers"].read, streams["orders"].read, streams["orders"].updated) == (
        0,
        1,
        1,
    )
    order = (await orders_by_id(session, "retail"))["1001"]
    assert (order.status, order.counts_as_purchase) == ("returned", False)


async def test_bad_credentials_fail_the_run_with_the_crm_reason(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    base_url: str,
    clock: SteppingClock,
) -> None:
    summary = await sync(
        sessionmaker, retail_config(base_url), Sleeps(), clock, environ={"RETAILCRM_KEY": "wrong"}
    )
    assert summary.status == "failed"
    assert summary.error == (
        'retail: GET /api/v5/customers was refused: HTTP 403: Wrong "apiKey" value.'
    )
    assert await session.scalar(select(func.count()).select_from(SyncCursor)) == 0


async def test_a_crm_down_mid_pass_fails_then_the_next_run_resumes_where_it_stopped(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    crm: FakeCrm,
    base_url: str,
    clock: SteppingClock,
) -> None:
    crm.failures[("orders", 2)] = [Failure(500)] * 3  # more than max_retries=2
    sleeps = Sleeps()
    config = retail_config(base_url)

    down = await sync(sessionmaker, config, sleeps, clock)

    assert down.status == "failed"
    assert down.error == "retail: GET /api/v5/orders failed after 3 attempt(s): HTTP 500"
    assert sleeps.waits == [1.0, 2.0]
    assert await session.scalar(select(func.count()).select_from(Order)) == 20
    crm.requests.clear()

    resumed = await sync(sessionmaker, config, Sleeps(), clock)

    assert resumed.status == "succeeded"
    # Customers had finished their pass: a new incremental one finds nothing changed.
    # Orders go on at page 2 of the interrupted pass.
    assert crm.requests == [("customers", 1, 200), ("orders", 2, 200)]
    assert resumed.streams["customers"].read == 0
    assert await session.scalar(select(func.count()).select_from(Order)) == 30


async def test_a_generic_api_with_cursor_paging_and_a_bearer_token(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    crm: FakeCrm,
    base_url: str,
    clock: SteppingClock,
) -> None:
    config = load_crm_config(
        {
            "crm": {
                "connectors": [
                    {
                        "name": "hub",
                        "type": "http",
                        "base_url": base_url,
                        "auth": {
                            "header": "Authorization",
                            "prefix": "Bearer ",
                            "value_env": "HUB",
                        },
                        "customers": {
                            "path": "/crm/v3/objects/contacts",
                            "records_path": "results",
                        },
                        "pagination": {
                            "style": "cursor",
                            "page_size": 10,
                            "cursor_param": "after",
                            "next_cursor_path": "paging.next.after",
                        },
                        "columns": {"customers": {"email": "properties.email"}},
                    }
                ]
            }
        }
    )
    connector = build_connector(
        config.connectors[0], crm=config, environ={"HUB": API_KEY}, clock=clock
    )
    summary = await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)

    assert summary.status == "succeeded", summary.error
    assert [start for kind, start, _ in crm.requests] == [0, 10, 20, 30, 40]
    customers = await customers_by_id(session, "hub")
    assert len(customers) == 45
    assert customers["7"].email == "user7@example.com"
