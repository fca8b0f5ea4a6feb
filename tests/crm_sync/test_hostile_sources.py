"""The CRM sync's non-file sources and its identity matching against hostile or odd input:
SQL columns of unusual types and NULLs, odd queries and URLs; HTTP APIs that echo the key,
time out naming it, send NaN for a count, an odd Retry-After or an answer without end, or
change paging mid-pass; addresses that only look like emails; matching one subscriber
that wrongs another; and `segbot crm rejected` showing what a CRM sent, markup included."""

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pandas as pd
import pytest
from aiohttp import web
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.test_utils import TestServer
from aiohttp.tracing import Trace
from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from cli.crm import app
from core.db import create_engine
from core.errors import ConfigError
from crm_sync.config import RecordRules, load_crm_config
from crm_sync.connectors import FilesConnector, SourceError, SqlConnector, build_connector
from crm_sync.connectors.http_client import JsonClient
from crm_sync.identity import normalize_email, normalize_emails
from crm_sync.matching import match_subscriber
from crm_sync.models import IdentityConflict, RejectedRow
from crm_sync.worker import SyncSummary, run_sync
from tests.cli.conftest import invoke
from tests.crm_sync.fake_crm import Failure, FakeCrm, retail_config, retail_customer, serve
from tests.crm_sync.shop import (
    CUSTOMER_HEADER,
    ISO_DATES_ONLY,
    ORDER_HEADER,
    RULES,
    SteppingClock,
    SubscriberFactory,
    customers_by_id,
    orders_by_id,
    write_csv,
)
from tests.crm_sync.test_hostile_files import workbook
from tests.crm_sync.test_hostile_values import rejections
from tests.crm_sync.test_http import Sleeps
from tests.crm_sync.test_http import sync as sync_retail
from tests.crm_sync.test_matching import import_customers, links
from tests.crm_sync.test_sql import OLD, QUERIES, clients, sales, shop

API_KEY = "s3cret-Key-42"


@pytest.fixture
async def shop_database(fresh_database_url: str) -> str:
    """The SQL tests' shop tables (tests/crm_sync/test_sql.py) with one client, one of
    her sales and a guest's sale (no client: a NULL in an integer column)."""
    engine = create_engine(fresh_database_url)
    async with engine.begin() as connection:
        await connection.run_sync(shop.create_all)
        await connection.execute(insert(clients).values(id=1, full_name="Ann", modified=OLD))
        await connection.execute(
            insert(sales),
            [
                {"id": 10, "client_id": 1, "created": OLD, "total": 25, "modified": OLD},
                {"id": 11, "client_id": None, "created": OLD, "total": 9, "modified": OLD},
            ],
        )
    await engine.dispose()
    return fresh_database_url


async def test_an_integer_column_holding_a_null_keeps_its_ids_whole(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, shop_database: str
) -> None:
    connector = SqlConnector(name="shop", url=shop_database, queries=QUERIES, rules=RULES)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "succeeded", summary.error
    customers = await customers_by_id(session)
    assert sorted(customers) == ["1"]
    assert (customers["1"].orders_count, customers["1"].total_spent) == (1, 25.0)
    assert summary.streams["orders"].rejected == 1  # the guest's sale: no customer


async def test_a_binary_column_is_read_as_text_not_a_crash(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, shop_database: str
) -> None:
    notes = Table(
        "notes", MetaData(), Column("id", Integer, primary_key=True), Column("tag", LargeBinary)
    )
    engine = create_engine(shop_database)
    async with engine.begin() as connection:
        await connection.run_sync(notes.metadata.create_all)
        await connection.execute(
            insert(notes), [{"id": 1, "tag": b"gold"}, {"id": 2, "tag": b"\xff"}]
        )
    await engine.dispose()
    connector = SqlConnector(
        name="shop",
        url=shop_database,
        queries={"customers": "SELECT id AS customer_id, tag FROM notes"},
        rules=RecordRules(default_region="ES", attributes={"tier": "tag"}),
    )

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "succeeded", summary.error
    customers = await customers_by_id(session)
    assert {key: c.attributes for key, c in customers.items()} == {
        "1": {"tier": "gold"},
        "2": {"tier": "\\xff"},  # not UTF-8: its byte written as an escape
    }


async def sync_customers_query(
    sessionmaker: async_sessionmaker[AsyncSession], shop_database: str, query: str
) -> SyncSummary:
    """A sync of the shop database with `query` for its customers."""
    connector = SqlConnector(
        name="shop", url=shop_database, queries={"customers": query}, rules=RULES
    )
    return await run_sync(sessionmaker=sessionmaker, connector=connector)


async def test_a_colon_in_a_query_literal_fails_the_run_saying_how_to_write_it(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, shop_database: str
) -> None:
    query = """SELECT id AS customer_id, '{"vip":true}' AS flags FROM clients"""
    summary = await sync_customers_query(sessionmaker, shop_database, query)

    assert (summary.status, summary.error) == (
        "failed",
        "shop: the customers query has the parameter(s) :true, but :since is the only one; "
        "write a colon that starts no parameter as \\:",
    )
    assert await customers_by_id(session) == {}


async def test_a_query_ending_in_a_comment_runs(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, shop_database: str
) -> None:
    query = "SELECT id AS customer_id, full_name AS name FROM clients -- everyone, ever\n"
    summary = await sync_customers_query(sessionmaker, shop_database, query)

    assert summary.status == "succeeded", summary.error
    assert sorted(await customers_by_id(session)) == ["1"]


async def test_a_query_naming_a_column_twice_fails_before_anything_is_stored(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, shop_database: str
) -> None:
    query = "SELECT id AS customer_id, full_name AS name, mobile AS name FROM clients"
    summary = await sync_customers_query(sessionmaker, shop_database, query)

    assert (summary.status, summary.error) == (
        "failed",
        "shop: the customers query returns 'name' more than once; name each column apart with AS",
    )
    assert await customers_by_id(session) == {}


@pytest.mark.parametrize(
    ("option", "named"),
    [("sslmode=require", "sslmode"), ("command_timeout=soon", "command_timeout")],
    ids=["libpq's sslmode: asyncpg takes ssl", "not a number"],
)
async def test_a_database_url_option_its_driver_cannot_take_fails_the_run(
    sessionmaker: async_sessionmaker[AsyncSession], option: str, named: str
) -> None:
    connector = SqlConnector(
        name="shop",
        url=f"postgresql://shop:pw@127.0.0.1:9/shop?{option}",
        queries=QUERIES,
        rules=RULES,
    )

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.startswith("shop: cannot connect to the database: ")
    assert named in summary.error
    assert "pw" not in summary.error


@pytest.mark.parametrize(
    "url", ["postgresql://shop:pw@127.0.0.1:port/shop", "sqlite:///shop.db?timeout=soon"]
)
def test_a_database_url_that_cannot_be_read_is_a_source_error(url: str) -> None:
    with pytest.raises(SourceError, match=r"^crm sql connector: "):
        SqlConnector(name="shop", url=url, queries=QUERIES, rules=RULES)


class HostileApi:
    """An API that echoes the key it was sent, counts its pages with NaN, or answers with
    a body larger than a page should ever be."""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/echo", self.echo)
        app.router.add_get("/echo-200", self.echo_200)
        app.router.add_get("/nan-pages", self.nan_pages)
        app.router.add_get("/huge", self.huge)
        app.router.add_get("/cursor-then-down", self.cursor_then_down)
        app.router.add_get("/paged", self.paged)
        app.router.add_get("/rot13", self.rot13)
        app.router.add_get("/capped", self.capped)
        app.router.add_get("/echo-query", self.echo_query)
        app.router.add_get("/nul-message", self.nul_message)
        app.router.add_get("/next-false", self.next_false)
        app.router.add_get("/no-id", self.no_id)
        app.router.add_get("/next-object", self.next_object)
        app.router.add_get("/structured", self.structured)
        app.router.add_get("/infinite", self.infinite)
        app.router.add_get("/needs-key", self.needs_key)
        app.router.add_get("/bom", self.bom)
        app.router.add_get("/latin1", self.latin1)
        return app

    async def no_id(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"ID_Client": 1, "Name\x00": "Ann"}, {"mail": "x"}]})

    async def next_false(self, request: web.Request) -> web.Response:
        """One page, its next cursor false: there is no second."""
        return web.json_response({"data": [{"id": 1}], "next": False})

    async def next_object(self, request: web.Request) -> web.Response:
        """The next page's token inside an object, as many APIs nest it."""
        if "after" in request.query:
            return web.json_response({"data": [{"id": 2}], "paging": None})
        return web.json_response({"data": [{"id": 1}], "paging": {"next": {"after": "t2"}}})

    async def nul_message(self, request: web.Request) -> web.Response:
        return web.json_response({"message": "bad\x00key\nsee the docs"}, status=401)

    async def echo_query(self, request: web.Request) -> web.Response:
        return web.json_response({"message": f"{request.path_qs} is not allowed"}, status=403)

    async def capped(self, request: web.Request) -> web.Response:
        """One record a page whatever the page size asked, its page count as a string."""
        page = int(request.query["page"])
        return web.json_response({"data": [{"id": page}], "meta": {"pages": "3"}})

    async def rot13(self, request: web.Request) -> web.Response:
        body = b'{"data": [{"id": 1, "name": "Ann"}]}'
        if "refuse" in request.query:
            body, status = b'{"message": "bad key"}', 401
        else:
            status = 200
        return web.Response(
            body=body, status=status, headers={"Content-Type": "application/json; charset=rot13"}
        )

    async def structured(self, request: web.Request) -> web.Response:
        records = [
            {"id": {"value": 1}, "name": "Ann"},
            {"id": [2], "name": "Bob"},
            {"id": 3, "name": {"first": "Cy"}},
            {"id": 4, "name": "Dee"},
        ]
        return web.json_response({"data": records})

    async def bom(self, request: web.Request) -> web.Response:
        """JSON after a UTF-8 byte order mark, as some Windows servers write it."""
        body = b"\xef\xbb\xbf" + json.dumps({"data": [{"id": 1, "name": "Ann"}]}).encode()
        return web.Response(body=body, content_type="application/json")

    async def latin1(self, request: web.Request) -> web.Response:
        """JSON in Latin-1 saying nothing of it: not the UTF-8 it then is."""
        body = '{"data": [{"id": 1, "name": "José"}]}'.encode("latin-1")
        return web.Response(body=body, content_type="application/json")

    async def needs_key(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response({"message": "bad key"}, status=401)
        first = request.query.get("page", "1") == "1"
        return web.json_response({"data": [{"id": 1, "name": "Ann"}] if first else []})

    async def infinite(self, request: web.Request) -> web.Response:
        """Orders, the first of an amount past what a float holds (valid JSON all the same)."""
        orders = [
            '{"id": "O1", "customer_id": "1", "ordered_at": "2025-01-02", "amount": 1e400}',
            '{"id": "O2", "customer_id": "1", "ordered_at": "2025-01-02", "amount": 10}',
        ]
        first = request.query.get("page", "1") == "1"
        body = f'{{"data": [{", ".join(orders if first else [])}]}}'
        return web.Response(text=body, content_type="application/json")

    async def cursor_then_down(self, request: web.Request) -> web.Response:
        if "after" in request.query:
            return web.json_response({"error": "down"}, status=503)
        return web.json_response({"data": [{"id": 1}], "next": "token-1"})

    async def paged(self, request: web.Request) -> web.Response:
        page = int(request.query["page"])
        return web.json_response({"data": [{"id": page}] if page <= 2 else []})

    async def echo(self, request: web.Request) -> web.Response:
        said = f"key {request.headers.get('Authorization')} has expired"
        return web.json_response({"message": said}, status=401)

    async def echo_200(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").split()[-1]
        return web.json_response({"error": f"token {token} may not read contacts"})

    async def nan_pages(self, request: web.Request) -> web.Response:
        number = int(request.query["page"])
        body = f'{{"data": [{{"id": {number}}}], "pages": NaN}}'
        return web.Response(text=body, content_type="application/json")

    async def huge(self, request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"Content-Type": "application/json"})
        await answer.prepare(request)
        await answer.write(b'{"data": ["')
        for _ in range(64):
            await answer.write(b"x" * 1024)
        await answer.write(b'"]}')
        return answer


@pytest.fixture
async def hostile_url() -> AsyncIterator[str]:
    server = TestServer(HostileApi().app())
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def sync_http(
    sessionmaker: async_sessionmaker[AsyncSession],
    base_url: str,
    path: str,
    key: str = API_KEY,
    **extra: object,
) -> SyncSummary:
    connector = {
        "name": "hub",
        "type": "http",
        "base_url": base_url,
        "auth": {"header": "Authorization", "prefix": "Bearer ", "value_env": "HUB_KEY"},
        "customers": {"path": path, "records_path": "data"},
        "pagination": {"page_size": 1, "max_pages": 5},
        "max_retries": 0,
    } | extra
    config = load_crm_config({"crm": {"connectors": [connector]}})
    clock = SteppingClock()
    built = build_connector(config.connectors[0], crm=config, environ={"HUB_KEY": key}, clock=clock)
    return await run_sync(sessionmaker=sessionmaker, connector=built, clock=clock)


async def test_an_answer_after_a_byte_order_mark_is_read(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    summary = await sync_http(sessionmaker, hostile_url, "/bom", pagination={"page_size": 10})

    assert summary.status == "succeeded", summary.error
    assert (await customers_by_id(session, "hub"))["1"].name == "Ann"


async def test_an_answer_that_is_not_its_charsets_text_fails_saying_so(
    sessionmaker: async_sessionmaker[AsyncSession], hostile_url: str
) -> None:
    summary = await sync_http(sessionmaker, hostile_url, "/latin1", pagination={"page_size": 10})

    assert (summary.status, summary.error) == (
        "failed",
        "hub: GET /latin1 answered with bytes that are not utf-8 text (byte 32)",
    )


async def test_a_key_with_the_line_break_a_secrets_file_leaves_is_read_without_it(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    summary = await sync_http(sessionmaker, hostile_url, "/needs-key", key=f" {API_KEY}\n")

    assert summary.status == "succeeded", summary.error
    assert sorted(await customers_by_id(session, "hub")) == ["1"]


@pytest.mark.parametrize("key", [f"{API_KEY}\nX-Injected: 1", f"{API_KEY}\x00", f"a\t{API_KEY}"])
async def test_a_key_holding_a_control_character_is_refused_never_shown(
    sessionmaker: async_sessionmaker[AsyncSession], hostile_url: str, key: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        await sync_http(sessionmaker, hostile_url, "/needs-key", key=key)

    assert str(refused.value) == (
        "crm: environment variable HUB_KEY holds a control character "
        "(a line break or a tab inside it?); set it to the secret alone"
    )


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/echo", "hub: GET /echo was refused: HTTP 401: key [redacted] has expired"),
        (
            "/echo-200",
            "hub: GET /echo-200: the answer has nothing at 'data' "
            "(it says: token [redacted] may not read contacts)",
        ),
    ],
    ids=["refused", "records missing"],
)
async def test_an_api_echoing_the_key_never_puts_it_in_the_run_error(
    sessionmaker: async_sessionmaker[AsyncSession], hostile_url: str, path: str, error: str
) -> None:
    summary = await sync_http(sessionmaker, hostile_url, path)

    assert (summary.status, summary.error) == ("failed", error)


async def test_a_page_count_of_nan_is_no_count_not_a_crash(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    pagination = {"page_size": 1, "max_pages": 3, "total_pages_path": "pages"}

    summary = await sync_http(sessionmaker, hostile_url, "/nan-pages", pagination=pagination)

    assert summary.status == "failed"
    assert summary.error is not None
    assert summary.error.startswith("hub: customers: stopped after 3 pages")
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2", "3"]


async def test_a_pass_cut_short_under_cursor_paging_starts_over_under_page_paging(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    by_cursor = {"style": "cursor", "page_size": 1, "next_cursor_path": "next"}
    cut = await sync_http(sessionmaker, hostile_url, "/cursor-then-down", pagination=by_cursor)
    assert (cut.status, cut.error) == (
        "failed",
        "hub: GET /cursor-then-down failed after 1 attempt(s): HTTP 503",
    )

    paged = await sync_http(sessionmaker, hostile_url, "/paged")  # paging changed since

    assert paged.status == "succeeded", paged.error
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2"]


class StalledConnector(aiohttp.TCPConnector):
    """Connects to nothing: every connection times out, as to a host that never answers."""

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109  (aiohttp's own signature)
    ) -> Connection:
        raise TimeoutError


async def test_a_timeout_naming_the_url_never_puts_a_query_key_in_the_error() -> None:
    async def no_wait(seconds: float) -> None:
        """Retries at once."""

    async with aiohttp.ClientSession(connector=StalledConnector()) as session:
        client = JsonClient(
            session,
            source="hub",
            base_url="http://127.0.0.1:9",
            params={"apiKey": "s3cret/Key+42"},
            max_retries=1,
            sleep=no_wait,
        )
        with pytest.raises(SourceError) as failed:
            await client.get("/contacts", {"page": "1"})

    assert str(failed.value) == (
        "hub: GET /contacts failed after 2 attempt(s): ConnectionTimeoutError: "
        "Connection timeout to host http://127.0.0.1:9/contacts"
    )


async def test_an_answer_past_the_size_limit_is_refused_unread(hostile_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        client = JsonClient(
            session, source="hub", base_url=hostile_url, max_retries=0, max_body_bytes=16_384
        )
        with pytest.raises(SourceError) as refused:
            await client.get("/huge", {})

    assert str(refused.value) == (
        "hub: GET /huge answered with more than 16,384 bytes; "
        "ask for smaller pages (pagination.page_size)"
    )


@pytest.mark.parametrize(
    "value",
    [
        "<ann@example.com>",
        "mailto:ann@example.com",
        "ann@example.com,",
        "ann\t@example.com",
        "ann@example.com\u200b",
        '"ann"@example.com',
        "an\xadn@example.com",  # a soft hyphen
        "ann@exa\u200emple.com",  # a direction mark
        "\u202eann@example.com",
        "ann\x01@example.com",
        "ann\x7f@example.com",
        "ann\udc00@example.com",  # a lone surrogate
    ],
)
def test_a_value_that_only_holds_an_email_is_not_one(value: str) -> None:
    assert normalize_email(value) is None
    assert normalize_emails(pd.Series([value])).isna().all()


async def test_matching_one_subscriber_never_gives_another_a_second_customer_of_a_source(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    sharer = subscriber_factory(phone="+34600000001", email="ann@example.com")
    other = subscriber_factory(phone="+34600000002", email="eve@example.com")
    await session.commit()
    await import_customers(
        sessionmaker,
        tmp_path / "c.csv",
        [
            ("c1", "Ann", "600000001", "eve@example.com"),  # the shared phone, eve's email
            ("c2", "Ann twin", "600000001", ""),  # the shared phone again: a conflict
            ("c3", "Eve", "600000002", ""),  # eve's phone: eve's customer
        ],
    )
    settled = {"c1": (None, None), "c2": (None, None), "c3": (other.id, "phone")}
    assert await links(session) == settled

    await match_subscriber(session, subscriber_id=sharer.id)  # the sharer shares again

    assert await links(session) == settled


async def test_rejected_rows_holding_markup_are_listed_as_written(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "c.csv",
        CUSTOMER_HEADER,
        [("c1", "[/] [red]Ann[/red]", "[link=https://evil.example]call[/link]", "")],
    )
    imported = await invoke(runner, app, "import", "--customers", str(path), "--source", "shop")
    assert imported.exit_code == 0, imported.output

    result = await invoke(runner, app, "rejected")

    assert result.exit_code == 0, result.output
    assert "[/] [red]Ann[/red]" in result.output
    assert "[link=https://evil.example]call[/link]" in result.output


async def test_a_subscriber_leaving_a_shared_phone_lets_the_other_one_have_it(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    subscriber_factory: SubscriberFactory,
    tmp_path: Path,
) -> None:
    leaver = subscriber_factory(phone="+34600000001")
    stayer = subscriber_factory(phone="+34600000001")
    await session.commit()
    await import_customers(sessionmaker, tmp_path / "c.csv", [("c1", "Ann", "600000001", "")])
    assert await links(session) == {"c1": (None, None)}  # one phone, two subscribers

    leaver.phone = "+34600000999"  # a new number, shared in chat
    await match_subscriber(session, subscriber_id=leaver.id)

    assert await links(session) == {"c1": (stayer.id, "phone")}
    assert (await session.scalars(select(IdentityConflict))).all() == []


async def test_a_limit_past_what_the_database_counts_is_a_usage_error(
    runner: CliRunner,
) -> None:
    result = await invoke(runner, app, "rejected", "--limit", "99999999999999999999")

    assert result.exit_code == 2, result.output  # as for a --run out of range
    assert "--limit" in result.output


async def test_a_retry_after_of_a_digit_that_is_no_number_is_ignored(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, clock: SteppingClock
) -> None:
    crm = FakeCrm(customers=[retail_customer(1)])
    crm.failures[("customers", 1)] = [Failure(429, {"Retry-After": "²"})]
    sleeps = Sleeps()
    async with serve(crm) as base_url:
        summary = await sync_retail(sessionmaker, retail_config(base_url), sleeps, clock)

    assert summary.status == "succeeded", summary.error
    assert sleeps.waits == [1.0]  # the backoff's first wait, as with no Retry-After
    assert sorted(await customers_by_id(session, "retail")) == ["1"]


async def test_an_answer_in_a_charset_that_is_no_text_encoding_is_read_as_utf8(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    one_page = {"page_size": 10}
    summary = await sync_http(sessionmaker, hostile_url, "/rot13", pagination=one_page)

    assert summary.status == "succeeded", summary.error
    assert {key: c.name for key, c in (await customers_by_id(session, "hub")).items()} == {
        "1": "Ann"
    }


async def test_a_refusal_in_a_charset_that_is_no_text_encoding_fails_with_its_reason(
    sessionmaker: async_sessionmaker[AsyncSession], hostile_url: str
) -> None:
    endpoint = {"path": "/rot13", "records_path": "data", "params": {"refuse": "1"}}
    summary = await sync_http(sessionmaker, hostile_url, "/rot13", customers=endpoint)

    assert (summary.status, summary.error) == (
        "failed",
        "hub: GET /rot13 was refused: HTTP 401: bad key",
    )


async def test_a_field_holding_a_json_object_or_list_rejects_its_row_saying_so(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    one_page = {"page_size": 10}
    summary = await sync_http(sessionmaker, hostile_url, "/structured", pagination=one_page)

    assert summary.status == "succeeded", summary.error
    assert sorted(await customers_by_id(session, "hub")) == ["4"]
    mapping = "map the path to the value inside it"
    assert await rejections(session, summary) == [
        ("customers", 1, None, f"customer id is a JSON object, not a value: {mapping}"),
        ("customers", 2, None, f"customer id is a list, not a value: {mapping}"),
        ("customers", 3, "3", f"name is a JSON object, not a value: {mapping}"),
    ]


async def test_an_amount_past_what_a_float_holds_is_rejected_and_the_rest_import(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    orders = {"path": "/infinite", "records_path": "data"}
    summary = await sync_http(sessionmaker, hostile_url, "/paged", orders=orders)

    assert summary.status == "succeeded", summary.error
    assert sorted(await orders_by_id(session, "hub")) == ["O2"]
    assert await rejections(session, summary) == [("orders", 1, "O1", "amount too large")]
    (kept,) = (await session.scalars(select(RejectedRow))).all()
    assert kept.raw["amount"] == "inf"  # as read, in the JSON a database column holds


async def test_a_quantity_past_what_the_column_holds_is_rejected_and_the_rest_import(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    quantities = ["2147483648", "1e30", "inf", "-inf", "2147483647"]
    orders = write_csv(
        tmp_path / "orders.csv",
        (*ORDER_HEADER, "quantity"),
        [
            (f"o{at}", "c1", "2026-01-10T10:00:00Z", "5", "EUR", "completed", quantity)
            for at, quantity in enumerate(quantities, start=1)
        ],
    )
    connector = FilesConnector(name="shop", customers=customers, orders=orders, rules=RULES)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "succeeded", summary.error
    assert {key: o.quantity for key, o in (await orders_by_id(session)).items()} == {
        "o5": 2147483647
    }
    assert await rejections(session, summary) == [
        ("orders", row, f"o{row - 1}", "quantity too large") for row in range(2, 6)
    ]


async def test_a_workbook_with_a_repeated_or_blank_heading_imports_the_first_of_each(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "customers.xlsx",
        (
            "Customers",
            [
                ("customer_id", "name", "name", None, None),
                ("c1", "Ann", "Ann B.", "note", "more"),
                ("c2", "Bob", None, None, None),
            ],
        ),
    )
    connector = FilesConnector(name="shop", customers=path, orders=None, rules=RULES)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "succeeded", summary.error
    assert {key: c.name for key, c in (await customers_by_id(session)).items()} == {
        "c1": "Ann",
        "c2": "Bob",
    }
    assert summary.streams["customers"].ignored_columns == ["name.1", "Unnamed: 3", "Unnamed: 4"]


async def test_blank_rows_above_a_workbook_header_are_passed_over_as_in_a_csv(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    path = workbook(
        tmp_path / "customers.xlsx",
        (
            "Customers",
            [
                (None, None),
                ("  ", None),
                ("customer_id", "name"),
                ("c1", "Ann"),
                (None, None),
                ("c1", "Ann again"),
            ],
        ),
    )
    connector = FilesConnector(name="shop", customers=path, orders=None, rules=RULES)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "succeeded", summary.error
    assert {key: c.name for key, c in (await customers_by_id(session)).items()} == {"c1": "Ann"}
    assert await rejections(session, summary) == [
        ("customers", 6, "c1", "same customer id as row 4, which is kept")
    ]


async def test_a_page_count_written_as_a_string_is_read_as_the_number(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    pagination = {"page_size": 10, "total_pages_path": "meta.pages"}

    summary = await sync_http(sessionmaker, hostile_url, "/capped", pagination=pagination)

    assert summary.status == "succeeded", summary.error
    assert sorted(await customers_by_id(session, "hub")) == ["1", "2", "3"]


async def test_a_retry_after_past_the_longest_wait_fails_the_run_saying_so(
    sessionmaker: async_sessionmaker[AsyncSession], clock: SteppingClock
) -> None:
    crm = FakeCrm(customers=[retail_customer(1)])
    crm.failures[("customers", 1)] = [Failure(429, {"Retry-After": "3600"})]
    sleeps = Sleeps()
    async with serve(crm) as base_url:
        summary = await sync_retail(sessionmaker, retail_config(base_url), sleeps, clock)

    assert (summary.status, summary.error) == (
        "failed",
        "retail: GET /api/v5/customers failed after 1 attempt(s): HTTP 429; the server asked "
        "to wait 3600 s, longer than a retry waits (120 s at most)",
    )
    assert sleeps.waits == []


@pytest.mark.parametrize("key", ["s3cret/Key+42", "s3cret key&=;", "ключ-секрет"])
async def test_an_api_echoing_a_query_key_percent_encoded_never_puts_it_in_the_error(
    hostile_url: str, key: str
) -> None:
    async with aiohttp.ClientSession() as session:
        client = JsonClient(session, source="hub", base_url=hostile_url, params={"apiKey": key})
        with pytest.raises(SourceError) as refused:
            await client.get("/echo-query", {"page": "1"})

    assert str(refused.value) == (
        "hub: GET /echo-query was refused: HTTP 403: "
        "/echo-query?apiKey=[redacted]&page=1 is not allowed"
    )


async def test_an_order_dated_now_or_past_the_dates_orders_have_is_rejected_saying_so(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    customers = write_csv(tmp_path / "customers.csv", CUSTOMER_HEADER, [("c1", "Ann", "", "")])
    dates = ["now", "today", " 2026-01-10 10:00 ", "9999-12-31 23:00", "0001-01-01"]
    orders = write_csv(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        [(f"o{at}", "c1", date, "5", "EUR", "completed") for at, date in enumerate(dates, start=1)],
    )
    rules = RULES.model_copy(update={"timezone": "America/New_York"})
    connector = FilesConnector(name="shop", customers=customers, orders=orders, rules=rules)

    summary = await run_sync(sessionmaker=sessionmaker, connector=connector)

    assert summary.status == "succeeded", summary.error
    stored = await orders_by_id(session)
    assert {key: o.ordered_at.isoformat() for key, o in stored.items()} == {
        "o3": "2026-01-10T15:00:00+00:00"
    }
    assert await rejections(session, summary) == [
        ("orders", 2, "o1", ISO_DATES_ONLY),
        ("orders", 3, "o2", ISO_DATES_ONLY),
        ("orders", 5, "o4", "order date not within 1900 to 2099"),
        ("orders", 6, "o5", "order date not within 1900 to 2099"),
    ]


async def test_a_nul_character_in_a_heading_is_shown_escaped_in_the_run(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, tmp_path: Path
) -> None:
    kept = write_csv(
        tmp_path / "kept.csv", ("customer_id", "name", "no\x00te"), [("c1", "Ann", "")]
    )
    broken = write_csv(tmp_path / "broken.csv", ("cust\x00omer_id", "name"), [("c2", "Bob")])

    imported = await run_sync(
        sessionmaker=sessionmaker,
        connector=FilesConnector(name="shop", customers=kept, orders=None, rules=RULES),
    )
    failed = await run_sync(
        sessionmaker=sessionmaker,
        connector=FilesConnector(name="other", customers=broken, orders=None, rules=RULES),
    )

    assert imported.status == "succeeded", imported.error
    assert imported.streams["customers"].ignored_columns == ["no\\x00te"]
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.startswith(
        f"{broken}: no column for external_id; columns found: cust\\x00omer_id, name."
    )


async def test_what_an_api_says_is_in_the_run_error_on_one_line_its_nul_escaped(
    sessionmaker: async_sessionmaker[AsyncSession], hostile_url: str
) -> None:
    summary = await sync_http(sessionmaker, hostile_url, "/nul-message")

    assert (summary.status, summary.error) == (
        "failed",
        "hub: GET /nul-message was refused: HTTP 401: bad\\x00key\\nsee the docs",
    )


async def test_a_next_cursor_of_false_ends_the_pass(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    by_cursor = {"style": "cursor", "page_size": 1, "next_cursor_path": "next"}

    summary = await sync_http(sessionmaker, hostile_url, "/next-false", pagination=by_cursor)

    assert summary.status == "succeeded", summary.error
    assert sorted(await customers_by_id(session, "hub")) == ["1"]


async def test_a_next_cursor_path_naming_the_object_around_the_token_fails_saying_so(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, hostile_url: str
) -> None:
    by_cursor = {"style": "cursor", "page_size": 1, "next_cursor_path": "paging.next"}

    summary = await sync_http(sessionmaker, hostile_url, "/next-object", pagination=by_cursor)

    assert (summary.status, summary.error) == (
        "failed",
        "hub: the answer has an object at 'paging.next', not a cursor token: "
        "set pagination.next_cursor_path to the token itself",
    )
    assert await customers_by_id(session, "hub") == {}


async def test_records_without_a_field_the_sync_needs_fail_naming_their_keys(
    sessionmaker: async_sessionmaker[AsyncSession], hostile_url: str
) -> None:
    summary = await sync_http(sessionmaker, hostile_url, "/no-id")

    assert (summary.status, summary.error) == (
        "failed",
        "hub: no customers field for external_id among the records' keys "
        "(ID_Client, mail, Name\\x00); map them under columns.customers, by JSON path "
        "(customer.id)",
    )
