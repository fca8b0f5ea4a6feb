"""An HTTP CRM API that sends what no database text holds, JSON nested hundreds deep,
its own echo of the key in forms a plain match misses (a record's keys, a next link, a
header prefix, lower-case escapes, HTML), a redirect to no address, a page count from a
0-based API, and a refusal whose body never comes: a row is rejected with its reason and
the rest imports, and a failure is one line without the key."""

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.models import RejectedRow
from crm_sync.raw import TOO_DEEP
from tests.crm_sync.shop import customers_by_id
from tests.crm_sync.test_hostile_sources import API_KEY, sync_http
from tests.crm_sync.test_hostile_values import rejections

ONE_PAGE = {"page_size": 10}
KEY_IN_QUERY = {"query_param": "api_key", "value_env": "HUB_KEY"}
SURROGATE = "\\ud800"  # as JSON escapes it: the text read holds a lone surrogate


class Api:
    """Routes answering as a careless or hostile CRM does; `asked` records the page
    numbers asked of /zero-based."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        for path, handler in {
            "/surrogates": self.surrogates,
            "/deep": self.deep,
            "/keys-echo": self.keys_echo,
            "/next-link": self.next_link,
            "/echo-form": self.echo_form,
            "/bad-location": self.bad_location,
            "/zero-based": self.zero_based,
            "/slow-refusal": self.slow_refusal,
        }.items():
            app.router.add_get(path, handler)
        return app

    async def surrogates(self, request: web.Request) -> web.Response:
        records = [
            '{"id": "c1", "name": "Ann"}',
            f'{{"id": "c2", "name": "Bob {SURROGATE}"}}',
            f'{{"id": "c3", "email": "a{SURROGATE}@example.com"}}',
            f'{{"id": "c{SURROGATE}", "name": "Cy"}}',
            f'{{"id": null, "name": "no id {SURROGATE}"}}',
        ]
        body = f'{{"data": [{", ".join(records)}]}}'
        return web.Response(text=body, content_type="application/json")

    async def deep(self, request: web.Request) -> web.Response:
        nested = "[" * 900 + "1" + "]" * 900
        body = f'{{"data": [{{"id": "c1"}}, {{"name": "no id", "meta": {nested}}}]}}'
        return web.Response(text=body, content_type="application/json")

    async def keys_echo(self, request: web.Request) -> web.Response:
        said = request.headers["Authorization"]
        return web.json_response({"data": [{"customer": {"id": 1}, f"echo {said}": 1}]})

    async def next_link(self, request: web.Request) -> web.Response:
        # The next link repeats the query it was asked with, key included, and never moves.
        link = f"/next-link?api_key={quote(request.query['api_key'], safe='')}&after=2"
        return web.json_response({"data": [{"id": request.query.get("after", "1")}], "next": link})

    async def echo_form(self, request: web.Request) -> web.Response:
        key = request.headers["Authorization"].removeprefix("Token token=")
        forms = {
            "as sent": key,
            "lower-case escapes": re.sub(
                "%[0-9A-F]{2}", lambda escape: escape.group().lower(), quote(key, safe="")
            ),
            "html": "".join(f"&#{ord(character)};" for character in key),
            "upper-case": key.upper(),
            "base64": base64.b64encode(key.encode()).decode(),
        }
        return web.json_response(
            {"message": f"key {forms[request.query['form']]} revoked"}, status=401
        )

    async def bad_location(self, request: web.Request) -> web.Response:
        key = request.headers["Authorization"].split()[-1]
        location = {"ipv6": "http://[::1/x", "wide at": f"http://{key}\uff20evil.example/"}
        return web.Response(status=302, headers={"Location": location[request.query["to"]]})

    async def zero_based(self, request: web.Request) -> web.Response:
        page = request.query["page"]
        self.asked.append(page)
        if int(page) > 2:
            return web.json_response({"error": "no such page"}, status=404)
        return web.json_response({"data": [{"id": f"c{page}"}], "pages": 3})

    async def slow_refusal(self, request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(status=401, headers={"Content-Type": "application/json"})
        await answer.prepare(request)
        await answer.write(b'{"message": ')
        await asyncio.sleep(3)  # longer than the connector's timeout: the body never comes
        return answer


@pytest.fixture
async def api() -> AsyncIterator[tuple[Api, str]]:
    served = Api()
    server = TestServer(served.app())
    await server.start_server()
    try:
        yield served, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_a_lone_surrogate_rejects_its_row_and_the_rest_import_run_after_run(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api: tuple[Api, str]
) -> None:
    _, url = api
    for _ in range(2):  # a second run reads the same page: nothing sticks
        summary = await sync_http(sessionmaker, url, "/surrogates", pagination=ONE_PAGE)

        assert summary.status == "succeeded", summary.error
        lone = "contains a lone surrogate (half of a UTF-16 pair), no character"
        assert await rejections(session, summary) == [
            ("customers", 2, "c2", f"name {lone}"),
            ("customers", 3, "c3", f"email {lone}"),
            ("customers", 4, "c\ufffd", f"customer id {lone}"),
            ("customers", 5, None, f"name {lone}"),
        ]
    assert sorted(await customers_by_id(session, "hub")) == ["c1"]
    raw = await session.scalar(select(RejectedRow.raw).where(RejectedRow.row_number == 5))
    assert raw == {"id": None, "name": "no id \ufffd"}


async def test_json_nested_hundreds_deep_in_a_rejected_row_is_kept_cut_short(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api: tuple[Api, str]
) -> None:
    _, url = api
    summary = await sync_http(sessionmaker, url, "/deep", pagination=ONE_PAGE)

    assert summary.status == "succeeded", summary.error
    assert await rejections(session, summary) == [("customers", 2, None, "missing customer id")]
    raw = await session.scalar(select(RejectedRow.raw).where(RejectedRow.run_id == summary.run_id))
    assert raw is not None
    kept = raw["meta"]
    for _ in range(32):
        (kept,) = kept
    assert kept == TOO_DEEP


async def test_a_key_echoed_in_a_records_keys_is_cut_out_of_the_error(
    sessionmaker: async_sessionmaker[AsyncSession], api: tuple[Api, str]
) -> None:
    _, url = api
    summary = await sync_http(sessionmaker, url, "/keys-echo", pagination=ONE_PAGE)

    assert summary.status == "failed"
    assert API_KEY not in (summary.error or "")
    assert "(customer, echo [redacted])" in (summary.error or "")


async def test_a_next_link_repeating_the_key_is_cut_out_of_the_error(
    sessionmaker: async_sessionmaker[AsyncSession], api: tuple[Api, str]
) -> None:
    _, url = api
    cursor = {"style": "cursor", "next_cursor_path": "next", "page_size": 1}
    summary = await sync_http(sessionmaker, url, "/next-link", auth=KEY_IN_QUERY, pagination=cursor)

    assert summary.status == "failed"
    assert "the API sent the cursor '/next-link?api_key=[redacted]&after=2' a second time" in (
        summary.error or ""
    )


@pytest.mark.parametrize("form", ["as sent", "lower-case escapes", "html", "upper-case", "base64"])
async def test_a_key_echoed_after_a_header_prefix_in_any_form_is_cut_out(
    sessionmaker: async_sessionmaker[AsyncSession], api: tuple[Api, str], form: str
) -> None:
    _, url = api
    auth = {"header": "Authorization", "prefix": "Token token=", "value_env": "HUB_KEY"}
    summary = await sync_http(
        sessionmaker,
        url,
        "/echo-form",
        key="s3cret+Key/42=",  # as a query writes it: s3cret%2BKey%2F42%3D
        auth=auth,
        customers={"path": "/echo-form", "records_path": "data", "params": {"form": form}},
    )

    assert (summary.status, summary.error) == (
        "failed",
        "hub: GET /echo-form was refused: HTTP 401: key [redacted] revoked",
    )


@pytest.mark.parametrize(
    ("to", "named"),
    [("ipv6", "http://[::1/x"), ("wide at", "http://[redacted]\uff20evil.example/")],
)
async def test_a_redirect_to_no_readable_address_fails_in_one_line(
    sessionmaker: async_sessionmaker[AsyncSession], api: tuple[Api, str], to: str, named: str
) -> None:
    _, url = api
    endpoint = {"path": "/bad-location", "records_path": "data", "params": {"to": to}}
    summary = await sync_http(sessionmaker, url, "/bad-location", customers=endpoint)

    assert (summary.status, summary.error) == (
        "failed",
        f"hub: GET /bad-location was redirected (HTTP 302) to {named}; redirects are not "
        "followed: set base_url to the address the API answers at",
    )


async def test_a_page_count_of_an_api_counting_pages_from_0_ends_the_pass_at_its_last(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, api: tuple[Api, str]
) -> None:
    served, url = api
    paging = {"first_page": 0, "total_pages_path": "pages", "page_size": 1}
    summary = await sync_http(sessionmaker, url, "/zero-based", pagination=paging)

    assert summary.status == "succeeded", summary.error
    assert served.asked == ["0", "1", "2"]
    assert sorted(await customers_by_id(session, "hub")) == ["c0", "c1", "c2"]


async def test_a_refusal_whose_body_never_comes_fails_at_once_with_its_status(
    sessionmaker: async_sessionmaker[AsyncSession], api: tuple[Api, str]
) -> None:
    _, url = api
    summary = await sync_http(
        sessionmaker, url, "/slow-refusal", timeout_seconds=0.5, max_retries=3
    )

    assert (summary.status, summary.error) == (
        "failed",
        "hub: GET /slow-refusal was refused: HTTP 401",
    )
