"""The HTTP connector against APIs that misbehave: one that ignores paging (the same page
again, or the same records in another order), a cursor sent twice, pages without end, a
redirect loop, records that are not objects, an answer without its list, JSON nested too
deep. Each fails the run with one line saying what to check, or keeps the bad record as a
rejected row, and never pages forever."""

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.models import RejectedRow
from crm_sync.worker import SyncSummary
from tests.crm_sync.fake_crm import served, sync_http
from tests.crm_sync.shop import customers_by_id

PAGE_SIZE = 2


def people(*numbers: int) -> list[dict[str, object]]:
    return [{"id": n, "email": f"user{n}@example.com"} for n in numbers]


class BadApi:
    """Each route misbehaves in one way; `requests` counts what reached it."""

    def __init__(self) -> None:
        self.requests = 0

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._count])
        app.router.add_get("/stuck", self.stuck)
        app.router.add_get("/shuffled", self.shuffled)
        app.router.add_get("/cursor-stuck", self.cursor_stuck)
        app.router.add_get("/endless", self.endless)
        app.router.add_get("/loop", self.loop)
        app.router.add_get("/mixed", self.mixed)
        app.router.add_get("/no-list", self.no_list)
        app.router.add_get("/deep", self.deep)
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.requests += 1
        return await handler(request)

    async def stuck(self, request: web.Request) -> web.Response:
        return web.json_response({"data": people(1, 2)})  # whatever page is asked for

    async def shuffled(self, request: web.Request) -> web.Response:
        page = int(request.query["page"])
        return web.json_response({"data": people(1, 2) if page % 2 else people(2, 1)})

    async def cursor_stuck(self, request: web.Request) -> web.Response:
        first = "after" not in request.query
        data = people(1, 2) if first else people(3, 4)
        return web.json_response({"data": data, "next": "abc"})

    async def endless(self, request: web.Request) -> web.Response:
        page = int(request.query["page"])
        return web.json_response({"data": people(2 * page - 1, 2 * page)})

    async def loop(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop?key=secret")

    async def mixed(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [*people(1), "oops", 42, None, *people(2)]})

    async def no_list(self, request: web.Request) -> web.Response:
        return web.json_response({"success": False, "errorMsg": "Not allowed for this site"})

    async def deep(self, request: web.Request) -> web.Response:
        return web.Response(text="[" * 100_000 + "]" * 100_000, content_type="application/json")


@pytest.fixture
def api() -> BadApi:
    return BadApi()


@pytest.fixture
async def base_url(api: BadApi) -> AsyncIterator[str]:
    async with served(api.app()) as url:
        yield url


async def sync(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str, path: str, **paging: object
) -> SyncSummary:
    return await sync_http(sessionmaker, base_url, path, **{"page_size": PAGE_SIZE, **paging})


@pytest.mark.parametrize("path", ["/stuck", "/shuffled"])
async def test_an_api_that_ignores_paging_fails_at_the_first_repeated_page(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api: BadApi,
    base_url: str,
    path: str,
) -> None:
    summary = await sync(sessionmaker, base_url, path)

    assert summary.status == "failed"
    assert summary.error == (
        "hub: customers: page 2 holds the same records as page 1: the API is not paging as "
        "configured (pagination: page number in 'page', a short page taken for the end: set "
        "total_pages_path if it has one)"
    )
    assert api.requests == 2
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2"]  # page 1 is stored


async def test_a_cursor_sent_twice_fails_the_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api: BadApi,
    base_url: str,
) -> None:
    summary = await sync(
        sessionmaker, base_url, "/cursor-stuck", style="cursor", next_cursor_path="next"
    )

    assert summary.status == "failed"
    assert summary.error == (
        "hub: customers: the API sent the cursor 'abc' a second time, after page 2: it is not "
        "paging as configured (pagination: cursor sent in 'after', read from 'next')"
    )
    assert api.requests == 2
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2"]


async def test_paging_stops_at_max_pages(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api: BadApi,
    base_url: str,
) -> None:
    summary = await sync(sessionmaker, base_url, "/endless", max_pages=3)

    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.startswith(
        "hub: customers: stopped after 3 pages, the most pagination.max_pages allows; "
        "raise it if the source holds more"
    )
    assert api.requests == 3
    assert len(await customers_by_id(session, "hub")) == 6


async def test_paging_stops_past_max_records(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    api: BadApi,
    base_url: str,
) -> None:
    summary = await sync(sessionmaker, base_url, "/endless", max_records=5)

    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.startswith(
        "hub: customers: stopped at page 3, past 5 records (pagination.max_records)"
    )
    assert len(await customers_by_id(session, "hub")) == 4  # the page past the limit is not


async def test_a_redirect_is_not_followed_and_fails_the_run_saying_where_it_points(
    sessionmaker: async_sessionmaker[AsyncSession], api: BadApi, base_url: str
) -> None:
    summary = await sync(sessionmaker, base_url, "/loop")

    assert summary.status == "failed"
    assert summary.error == (
        "hub: GET /loop was redirected (HTTP 302) to /loop; redirects are not followed: "
        "set base_url to the address the API answers at"
    )
    assert api.requests == 1


async def test_records_that_are_not_objects_are_rejected_and_the_rest_import(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, base_url: str
) -> None:
    summary = await sync(sessionmaker, base_url, "/mixed", page_size=10)

    assert summary.status == "succeeded", summary.error
    assert (summary.streams["customers"].inserted, summary.streams["customers"].rejected) == (
        2,
        3,
    )
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2"]
    rejected = (await session.scalars(select(RejectedRow).order_by(RejectedRow.row_number))).all()
    assert [(r.row_number, r.raw, r.reason) for r in rejected] == [
        (2, {"record": "oops"}, "the record is a string, not a JSON object"),
        (3, {"record": 42}, "the record is a number, not a JSON object"),
        (4, {"record": None}, "the record is null, not a JSON object"),
    ]


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (
            "/no-list",
            "hub: GET /no-list: the answer has nothing at 'data' "
            "(it says: Not allowed for this site)",
        ),
        ("/deep", "hub: GET /deep answered with JSON nested too deep"),
    ],
)
async def test_an_answer_without_its_records_fails_the_run_saying_why(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str, path: str, error: str
) -> None:
    summary = await sync(sessionmaker, base_url, path)

    assert (summary.status, summary.error) == ("failed", error)
