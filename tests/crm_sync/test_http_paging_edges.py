"""Offset paging against APIs whose pages are shorter than asked: one that caps its page
size below the one asked for (500 asked, 100 served), one whose records fill whole pages,
and one that ignores the offset and serves its short page again. A short page is not the
end: the pass reads on, the offset moved by the records received, until a page comes back
empty; a page served again fails the run instead of paging forever."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.worker import SyncSummary
from tests.crm_sync.fake_crm import served, sync_http
from tests.crm_sync.shop import customers_by_id

ASKED = 500  # the page size the connector asks for
SERVED = 100  # the most the API serves in one page, whatever it is asked


def people(first: int, last: int) -> list[dict[str, object]]:
    return [{"id": n, "email": f"user{n}@example.com"} for n in range(first, last + 1)]


class CappedApi:
    """An offset/limit API that serves at most SERVED records a page; `offsets` are the
    offsets asked for, in order."""

    def __init__(self) -> None:
        self.records = people(1, 250)
        self.offsets: list[int] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/contacts", self.contacts)
        app.router.add_get("/ignores-offset", self.ignores_offset)
        return app

    async def contacts(self, request: web.Request) -> web.Response:
        offset = int(request.query["offset"])
        limit = min(int(request.query["limit"]), SERVED)
        self.offsets.append(offset)
        return web.json_response({"data": self.records[offset : offset + limit]})

    async def ignores_offset(self, request: web.Request) -> web.Response:
        self.offsets.append(int(request.query["offset"]))
        return web.json_response({"data": people(1, 3)})


@pytest.fixture
def api() -> CappedApi:
    return CappedApi()


@pytest.fixture
async def base_url(api: CappedApi) -> AsyncIterator[str]:
    async with served(api.app()) as url:
        yield url


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str, path: str
) -> SyncSummary:
    return await sync_http(sessionmaker, base_url, path, style="offset", page_size=ASKED)


@pytest.mark.parametrize("count", [250, 200])  # the last page short, or full
async def test_pages_shorter_than_asked_are_read_on_to_an_empty_page(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api: CappedApi,
    base_url: str,
    count: int,
) -> None:
    api.records = people(1, count)

    summary = await sync(sessionmaker, base_url, "/contacts")

    assert summary.status == "succeeded", summary.error
    # Each offset moved by the records received (100), not by the page size asked (500).
    assert api.offsets == [*range(0, count, SERVED), count]
    assert summary.streams["customers"].read == count
    assert len(await customers_by_id(session, "hub")) == count


async def test_an_api_that_serves_its_short_page_again_fails_the_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api: CappedApi,
    base_url: str,
) -> None:
    summary = await sync(sessionmaker, base_url, "/ignores-offset")

    assert summary.status == "failed"
    assert summary.error == (
        "hub: customers: page 2 holds the same records as page 1: the API is not paging as "
        "configured (pagination: offset in 'offset', 500 a page)"
    )
    assert api.offsets == [0, 3]
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2", "3"]  # page 1 is stored
