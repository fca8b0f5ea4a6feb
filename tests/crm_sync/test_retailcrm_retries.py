"""RetailCRM's requests time out and are retried as the generic HTTP connector's are, set
by the same keys: an answer slower than `timeout_seconds` is given up and asked again, a
Retry-After longer than `max_retry_wait_seconds` is not waited, and a wrong value of
either fails loading the configuration saying which key is wrong."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import ConfigError
from crm_sync.config import CrmConfig
from crm_sync.connectors import build_connector
from crm_sync.worker import SyncSummary, run_sync
from tests.crm_sync.fake_crm import (
    API_KEY,
    Failure,
    FakeCrm,
    retail_config,
    retail_customer,
    served,
)
from tests.crm_sync.shop import SteppingClock, customers_by_id

CUSTOMERS = 30  # two pages of 20


class Sleeps:
    """Records the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class SlowCrm:
    """The fake RetailCRM behind a door that holds the first `slow` requests unanswered
    until `release` is set; `arrived` counts the requests that reached it."""

    def __init__(self, crm: FakeCrm) -> None:
        self.crm = crm
        self.slow = 0
        self.arrived = 0
        self.release = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._hold])
        app.router.add_get("/api/v5/{kind:customers|orders}", self.crm.listing)
        return app

    @web.middleware
    async def _hold(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.arrived += 1
        if self.slow:
            self.slow -= 1
            await self.release.wait()
        return await handler(request)


@pytest.fixture
def slow() -> SlowCrm:
    return SlowCrm(FakeCrm(customers=[retail_customer(n) for n in range(1, CUSTOMERS + 1)]))


@pytest.fixture
async def base_url(slow: SlowCrm) -> AsyncIterator[str]:
    async with served(slow.app()) as url:
        try:
            yield url
        finally:
            slow.release.set()  # answer what is still held, so the server closes at once


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession], config: CrmConfig, sleeps: Sleeps
) -> SyncSummary:
    clock = SteppingClock()
    connector = build_connector(
        config.connectors[0],
        crm=config,
        environ={"RETAILCRM_KEY": API_KEY},
        clock=clock,
        sleep=sleeps,
    )
    return await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)


async def test_an_answer_slower_than_timeout_seconds_is_given_up_and_asked_again(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    slow: SlowCrm,
    base_url: str,
) -> None:
    slow.slow = 1
    sleeps = Sleeps()
    config = retail_config(base_url, timeout_seconds=0.3, max_retries=2)

    summary = await sync(sessionmaker, config, sleeps)

    assert summary.status == "succeeded", summary.error
    assert sleeps.waits == [1.0]  # one backoff, after the request that timed out
    assert slow.arrived == 4  # customers page 1 twice, page 2, then the (empty) orders
    assert len(await customers_by_id(session, "retail")) == CUSTOMERS


async def test_answers_slower_than_timeout_seconds_every_time_fail_the_run_after_the_retries(
    sessionmaker: async_sessionmaker[AsyncSession], slow: SlowCrm, base_url: str
) -> None:
    slow.slow = 3
    sleeps = Sleeps()
    config = retail_config(base_url, timeout_seconds=0.3, max_retries=2)

    summary = await sync(sessionmaker, config, sleeps)

    assert (summary.status, summary.error) == (
        "failed",
        "retail: GET /api/v5/customers failed after 3 attempt(s): TimeoutError",
    )
    assert sleeps.waits == [1.0, 2.0]
    assert slow.arrived == 3


async def test_a_retry_after_longer_than_max_retry_wait_seconds_is_not_waited(
    sessionmaker: async_sessionmaker[AsyncSession], slow: SlowCrm, base_url: str
) -> None:
    slow.crm.failures[("customers", 1)] = [Failure(429, {"Retry-After": "30"})]
    sleeps = Sleeps()
    config = retail_config(base_url, max_retry_wait_seconds=10)

    summary = await sync(sessionmaker, config, sleeps)

    assert (summary.status, summary.error) == (
        "failed",
        "retail: GET /api/v5/customers failed after 1 attempt(s): HTTP 429; the server asked "
        "to wait 30 s, longer than a retry waits (10 s at most)",
    )
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        (
            {"timeout_seconds": 0},
            "crm.connectors.0.retailcrm.timeout_seconds: Input should be greater than 0",
        ),
        (
            {"max_retry_wait_seconds": "soon"},
            "crm.connectors.0.retailcrm.max_retry_wait_seconds: Input should be a valid "
            "number, unable to parse string as a number",
        ),
    ],
)
def test_a_wrong_timeout_or_retry_wait_fails_loading_naming_the_key(
    setting: dict[str, object], error: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        retail_config("https://shop.retailcrm.example", **setting)

    assert str(raised.value) == error
