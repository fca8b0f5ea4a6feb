"""A generic paged JSON API: page, offset or cursor paging, an updated-since filter, a
field mapping by JSON path (`customer.id`, `phones.0.number`), retries from JsonClient.

A pass is resumable: its cursor holds the page (or offset, or cursor token) after the last
stored batch and the `since` it filtered on (a pass cut short under cursor paging starts
over if page or offset paging is configured since). A finished pass moves `since` to the
pass's own start less an overlap, so records changed while it paged are read again next time.

Under offset paging a pass ends at the first empty page, not at a page shorter than asked
(`_next`). A pass cannot page forever (`crm_sync.connectors.paging`): a page holding the
records of an earlier page, or a cursor token sent twice, means the API is not paging as
configured, and past `max_pages` or `max_records` the pass stops; each fails the run with
what to check. A record that is not a JSON object is rejected with that reason; the rest of
its page imports. A page count written as a string ("3") is read as the number.
"""

import asyncio
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypedDict
from zoneinfo import ZoneInfo

import aiohttp
import numpy as np
import pandas as pd

from core.clock import Clock, utcnow
from crm_sync.config import (
    Endpoint,
    HttpConnectorConfig,
    Pagination,
    RecordRules,
    RetailCrmConnectorConfig,
)
from crm_sync.connectors.base import Batch, Cursor, SourceError, validate
from crm_sync.connectors.http_client import JsonClient, Sleep
from crm_sync.connectors.paging import PagingGuard
from crm_sync.fields import DEFAULT_COLUMNS, REQUIRED, Stream
from crm_sync.raw import JsonObject, JsonValue, printable
from crm_sync.records import Rejection

OVERLAP = timedelta(minutes=5)
MAX_KEYS_SHOWN = 20  # of a record's keys, in the error for a field found under none


@dataclass(frozen=True, slots=True)
class HttpSource:
    """Everything the connector needs to know about one API."""

    base_url: str
    endpoints: dict[Stream, Endpoint]
    pagination: Pagination = field(default_factory=Pagination)
    fields: dict[Stream, dict[str, str]] = field(default_factory=dict)  # field: JSON path
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    # Credentials as configured (a key without the prefix its header adds): cut out of
    # what the connector's errors repeat, as its header and query values are.
    secrets: tuple[str, ...] = ()
    updated_since_param: str | None = None
    updated_since_format: str = "iso"
    max_retries: int = 5
    max_retry_wait: float = 120.0
    timeout: float = 60.0


class RequestSettings(TypedDict):
    """The HttpSource fields every HTTP connector's config sets by the same keys."""

    max_retries: int
    max_retry_wait: float
    timeout: float


def request_settings(config: HttpConnectorConfig | RetailCrmConnectorConfig) -> RequestSettings:
    """How long a request waits and how it is retried, as `config` says: read here once,
    so a preset (RetailCRM) is tuned by the keys of the generic connector, and the same."""
    return RequestSettings(
        max_retries=config.max_retries,
        max_retry_wait=config.max_retry_wait_seconds,
        timeout=config.timeout_seconds,
    )


class HttpConnector:
    def __init__(
        self,
        *,
        name: str,
        source: HttpSource,
        rules: RecordRules,
        clock: Clock = utcnow,
        sleep: Sleep | None = None,
    ) -> None:
        self._name = name
        self._source = source
        self._rules = rules
        self._clock = clock
        self._sleep = sleep

    @property
    def name(self) -> str:
        return self._name

    @property
    def streams(self) -> tuple[Stream, ...]:
        endpoints = self._source.endpoints
        return tuple(stream for stream in ("customers", "orders") if stream in endpoints)

    async def check(self) -> None:
        """Nothing to check before the first page: an API's records name their fields
        only when they are read (a page without a required field fails the run then)."""

    async def batches(self, stream: Stream, cursor: Cursor | None) -> AsyncIterator[Batch]:
        source, paging = self._source, self._source.pagination
        endpoint = source.endpoints[stream]
        resuming = cursor is not None and not cursor.get("complete")
        since = _time(cursor.get("since")) if cursor else None
        started = _time(cursor.get("pass_started")) if resuming and cursor else None
        started = started or self._clock()
        position: str | int | None = cursor.get("position") if resuming and cursor else None
        if paging.style != "cursor" and not isinstance(position, int):
            # None, or a cursor token of a pass paged by cursor before the style changed
            position = paging.first_page if paging.style == "page" else 0
        read = int(cursor.get("rows_done") or 0) if resuming and cursor else 0
        guard = PagingGuard(
            self._name,
            stream,
            paging,
            pages=int(cursor.get("pages") or 0) if resuming and cursor else 0,
            records=read,
        )

        timeout = aiohttp.ClientTimeout(total=source.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = JsonClient(
                session,
                source=self._name,
                base_url=source.base_url,
                headers=source.headers,
                params=source.params,
                secrets=source.secrets,
                max_retries=source.max_retries,
                max_retry_wait=source.max_retry_wait,
                clock=self._clock,
                sleep=self._sleep or asyncio.sleep,
            )
            try:
                while True:
                    guard.before_page()
                    params = {**endpoint.params, **self._since_param(since)}
                    params.update(_paging_params(paging, position))
                    body = await client.get(endpoint.path, params)
                    items = _items(body, endpoint, self._name, client)
                    records = [item for item in items if isinstance(item, dict)]
                    paths = self._paths(stream, records) if records else {}
                    guard.check_page(_identities(items, paths.get("external_id")))
                    position, more = _next(paging, body, position, len(items), self._name)
                    if more and paging.style == "cursor":
                        guard.check_cursor(position)
                    if items:
                        numbers = np.arange(read, read + len(items)) + 1
                        read += len(items)
                        stored, rejected = self._checked(stream, items, paths, numbers)
                        yield Batch(
                            stream=stream,
                            cursor=_cursor(
                                since, started, position=position, read=read, pages=guard.pages
                            ),
                            records=stored,
                            rejected=rejected,
                            read=len(items),
                            total=_int(_dig(body, "pagination.totalCount")),
                        )
                    if not more:
                        break
            except SourceError as error:  # it may repeat what the API sent: an echoed key
                raise SourceError(client.redacted(str(error))) from None
        yield Batch(stream=stream, cursor=_cursor(started - OVERLAP, started, done=True))

    def _checked(
        self, stream: Stream, items: list[JsonValue], paths: dict[str, str], numbers: np.ndarray
    ) -> tuple[pd.DataFrame, list[Rejection]]:
        """A page's records to store and its rejections (an item that is not an object is
        one, with that reason; the others are validated)."""
        objects = [at for at, item in enumerate(items) if isinstance(item, dict)]
        rejected = [
            Rejection(
                row_number=int(numbers[at]),
                external_id=None,
                raw={"record": item},
                reason=f"the record is {_kind(item)}, not a JSON object",
            )
            for at, item in enumerate(items)
            if not isinstance(item, dict)
        ]
        if not objects:
            return pd.DataFrame(), rejected
        records = [item for item in items if isinstance(item, dict)]
        checked = validate(
            stream,
            _frame(records, paths),
            rules=self._rules,
            raw=records,
            row_numbers=numbers[objects],
        )
        rejected += checked.rejected
        return checked.records, sorted(rejected, key=lambda rejection: rejection.row_number or 0)

    def _since_param(self, since: datetime | None) -> dict[str, str]:
        param = self._source.updated_since_param
        if param is None or since is None:
            return {}
        fmt = self._source.updated_since_format
        if fmt == "iso":
            return {param: since.isoformat()}
        return {param: since.astimezone(ZoneInfo(self._rules.timezone)).strftime(fmt)}

    def _paths(self, stream: Stream, records: Sequence[JsonObject]) -> dict[str, str]:
        """{field: JSON path} for a page's records, attributes included."""
        keys = {key for record in records for key in record}
        paths = _field_paths(stream, self._source.fields.get(stream, {}), keys, self._name)
        if stream == "customers":
            paths.update({f"attr:{name}": path for name, path in self._rules.attributes.items()})
        return paths


def _frame(records: Sequence[JsonObject], paths: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {name: [_dig(record, path) for record in records] for name, path in paths.items()},
        dtype=object,
    )


def _field_paths(
    stream: Stream, mapping: Mapping[str, str], present: set[str], source: str
) -> dict[str, str]:
    """{field: JSON path}: the mapping's, else a top-level key with a default name."""
    keys = {key.lower(): key for key in present}
    paths = dict(mapping)
    for name, candidates in DEFAULT_COLUMNS[stream].items():
        if name not in paths:
            hit = next((keys[c] for c in candidates if c in keys), None)
            if hit is not None:
                paths[name] = hit
    missing = [name for name in REQUIRED[stream] if name not in paths]
    if missing:
        listed = sorted(present, key=str.lower)
        found = ", ".join(printable(key) for key in listed[:MAX_KEYS_SHOWN])
        extra = len(listed) - MAX_KEYS_SHOWN
        more = f" and {extra} more" if extra > 0 else ""
        raise SourceError(
            f"{source}: no {stream} field for {', '.join(missing)} among the records' keys "
            f"({found}{more}); map them under columns.{stream}, by JSON path (customer.id)"
        )
    return paths


def _paging_params(paging: Pagination, position: str | int | None) -> dict[str, str]:
    size = {paging.size_param: str(paging.page_size)}
    if paging.style == "page":
        return {**size, paging.page_param: str(position)}
    if paging.style == "offset":
        return {**size, paging.offset_param: str(position)}
    return {**size, **({paging.cursor_param: str(position)} if position else {})}


def _next(
    paging: Pagination, body: JsonValue, position: str | int | None, count: int, source: str
) -> tuple[str | int | None, bool]:
    """The position of the next page, and whether there is one.

    A cursor token is text or a number; null, "" and false say there is no next page. An
    object or a list where the token should be is the object around it (`paging.next`
    for `paging.next.after`): sent as text, it would page nowhere, so it fails the source
    saying what to set.

    An offset moves by the records received, and only an empty page ends the pass: some
    APIs serve fewer records than asked (500 asked, 100 served), so a short page is no
    sign of the end, and taking it for one would end the pass with the rest unread. An
    API that ignores the offset serves its page again, which the paging guard fails."""
    if paging.style == "cursor":
        token = _dig(body, paging.next_cursor_path) if paging.next_cursor_path else None
        if token is None or token is False or token == "" or not count:
            return None, False
        if isinstance(token, bool | dict | list):
            raise SourceError(
                f"{source}: the answer has {_kind(token)} at {paging.next_cursor_path!r}, not "
                "a cursor token: set pagination.next_cursor_path to the token itself"
            )
        return str(token), True
    current = int(position or 0)
    if paging.style == "offset":
        return current + count, count > 0
    total_pages = _int(_dig(body, paging.total_pages_path)) if paging.total_pages_path else None
    read = current - paging.first_page + 1  # pages of this pass, this one included
    more = read < total_pages if total_pages is not None else count >= paging.page_size
    return current + 1, more and count > 0


def _items(body: JsonValue, endpoint: Endpoint, source: str, client: JsonClient) -> list[JsonValue]:
    """The list of records at the endpoint's `records_path`, whatever each one is."""
    items = _dig(body, endpoint.records_path)
    if isinstance(items, list):
        return items
    where = f"{source}: GET {endpoint.path}: the answer has"
    if items is None:
        said = client.reason(body)
        raise SourceError(
            f"{where} nothing at {endpoint.records_path!r}"
            + (f" (it says: {said})" if said else "")
        )
    raise SourceError(f"{where} {_kind(items)} at {endpoint.records_path!r}, not a list")


def _identities(items: list[JsonValue], id_path: str | None) -> list[JsonValue]:
    """Each record's id where it has one, else the record itself: what tells pages apart."""
    identities: list[JsonValue] = []
    for item in items:
        found = _dig(item, id_path) if isinstance(item, dict) and id_path else None
        identities.append(item if found is None else {"id": found})
    return identities


def _kind(value: JsonValue) -> str:
    """What a JSON value is, in words: "a string", "a list", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _dig(value: JsonValue, path: str | None) -> JsonValue:
    if path is None:
        return None
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _cursor(
    since: datetime | None,
    started: datetime,
    *,
    position: str | int | None = None,
    read: int = 0,
    pages: int = 0,
    done: bool = False,
) -> Cursor:
    return {
        "since": since.isoformat() if since else None,
        "pass_started": started.isoformat(),
        "position": position,
        "rows_done": read,
        "pages": pages,
        "complete": done,
    }


def _time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _int(value: JsonValue) -> int | None:
    """A count the API gave, or None when it is none (NaN and Infinity included). Some
    APIs write their counts as strings ("3"): read as the number, or a pass whose API
    serves shorter pages than asked would end at the first, taking it for the last."""
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.isascii() and text.isdecimal() and len(text) <= 18 else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if math.isfinite(value) else None
