"""A local stand-in for RetailCRM API v5 (and a cursor-paged API), reproducing the
documented response shapes, paging and errors, with scriptable failures."""

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crm_sync.config import CrmConfig, load_crm_config
from crm_sync.connectors import build_connector
from crm_sync.worker import SyncSummary, run_sync
from tests.crm_sync.shop import SteppingClock

API_KEY = "test-key"
LIMITS = (20, 50, 100)  # what RetailCRM accepts for `limit`
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MOSCOW = ZoneInfo("Europe/Moscow")

Record = dict[str, object]


@dataclass
class Failure:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeCrm:
    customers: list[Record] = field(default_factory=list)
    orders: list[Record] = field(default_factory=list)
    updated: dict[tuple[str, object], str] = field(default_factory=dict)  # (kind, id): time
    # (kind, page) -> failures served, in order, before the page itself
    failures: dict[tuple[str, int], list[Failure]] = field(default_factory=dict)
    requests: list[tuple[str, int, int]] = field(default_factory=list)  # kind, page, status
    queries: list[dict[str, str]] = field(default_factory=list)

    async def listing(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        page = int(request.query.get("page", "1"))
        self.queries.append(dict(request.query))
        if request.headers.get("X-API-KEY", request.query.get("apiKey")) != API_KEY:
            return self._answer(
                kind, page, 403, {"success": False, "errorMsg": 'Wrong "apiKey" value.'}
            )
        scripted = self.failures.get((kind, page))
        if scripted:
            failure = scripted.pop(0)
            self.requests.append((kind, page, failure.status))
            return web.json_response(
                {"success": False, "errorMsg": "Try later"},
                status=failure.status,
                headers=failure.headers,
            )
        limit = int(request.query.get("limit", "20"))
        if limit not in LIMITS:
            return self._answer(kind, page, 400, {"success": False, "errorMsg": "Wrong limit"})
        records = self.customers if kind == "customers" else self.orders
        since = request.query.get("filter[updatedAtFrom]")
        if since is not None:
            cutoff = _local_time(since)
            records = [
                r
                for r in records
                if _local_time(self.updated.get((kind, r["id"]), "2000-01-01 00:00:00")) >= cutoff
            ]
        pages = max(math.ceil(len(records) / limit), 1)
        body = {
            "success": True,
            "pagination": {
                "limit": limit,
                "totalCount": len(records),
                "currentPage": page,
                "totalPageCount": pages,
            },
            kind: records[(page - 1) * limit : page * limit],
        }
        return self._answer(kind, page, 200, body)

    def _answer(self, kind: str, page: int, status: int, body: Record) -> web.Response:
        self.requests.append((kind, page, status))
        return web.json_response(body, status=status)

    async def contacts(self, request: web.Request) -> web.Response:
        """A HubSpot-like list: `after` cursor paging, Bearer token."""
        self.queries.append(dict(request.query))
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            return web.json_response(
                {"message": "Authentication credentials not found"}, status=401
            )
        start = int(request.query.get("after", "0"))
        limit = int(request.query.get("limit", "10"))
        chunk = self.customers[start : start + limit]
        body: Record = {
            "results": [{"id": c["id"], "properties": {"email": c["email"]}} for c in chunk]
        }
        if start + limit < len(self.customers):
            body["paging"] = {"next": {"after": str(start + limit)}}
        self.requests.append(("contacts", start, 200))
        return web.json_response(body)


def _local_time(text: str) -> datetime:
    """RetailCRM writes times without an offset, in the account's zone (Moscow here)."""
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=MOSCOW)


def retail_customer(number: int) -> Record:
    return {
        "id": number,
        "externalId": f"ext-{number}",
        "firstName": f"Name{number}",
        "lastName": "Lee",
        "email": f"user{number}@example.com",
        "phones": [{"number": f"+34 600 {number:06d}"}],
        "createdAt": "2026-01-01 10:00:00",
        "site": "shop",
    }


def retail_order(number: int, customer: int, *, status: str = "complete") -> Record:
    return {
        "id": 1000 + number,
        "number": f"{1000 + number}A",
        "createdAt": "2026-02-01 12:00:00",
        "status": status,
        "totalSumm": 10.5 * number,
        "currency": "EUR",
        "customer": {"type": "customer", "id": customer, "externalId": f"ext-{customer}"},
        "source": {"source": "telegram", "campaign": "spring"},
        "items": [{"id": number, "quantity": 1, "initialPrice": 10.5 * number}],
    }


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """`app` listening on a local port while inside: its base URL."""
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@asynccontextmanager
async def serve(crm: FakeCrm) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/api/v5/{kind:customers|orders}", crm.listing)
    app.router.add_get("/crm/v3/objects/contacts", crm.contacts)
    async with served(app) as url:
        yield url


def retail_config(base_url: str, **extra: object) -> CrmConfig:
    """A RetailCRM connector on `base_url` (its key in RETAILCRM_KEY), retrying twice;
    `extra` keys added or replaced."""
    connector = {
        "name": "retail",
        "type": "retailcrm",
        "url": base_url,
        "api_key_env": "RETAILCRM_KEY",
        "page_size": 20,
        "timezone": "Europe/Moscow",
        "max_retries": 2,
    } | extra
    return load_crm_config({"crm": {"default_region": "ES", "connectors": [connector]}})


async def sync_http(
    sessionmaker: async_sessionmaker[AsyncSession], base_url: str, path: str, **paging: object
) -> SyncSummary:
    """One sync of a generic HTTP connector reading customers from `path` of `base_url`
    (records under `data`), paged as `paging` says, never retrying."""
    connector_config = {
        "name": "hub",
        "type": "http",
        "base_url": base_url,
        "customers": {"path": path, "records_path": "data"},
        "pagination": paging,
        "max_retries": 0,
    }
    config = load_crm_config({"crm": {"connectors": [connector_config]}})
    clock = SteppingClock()
    connector = build_connector(config.connectors[0], crm=config, environ={}, clock=clock)
    return await run_sync(sessionmaker=sessionmaker, connector=connector, clock=clock)
