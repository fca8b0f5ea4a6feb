"""GET JSON from a CRM API, retrying what is worth retrying.

429 and 5xx answers and dropped connections are retried with exponential backoff, or
after the server's Retry-After (seconds or an HTTP date) when it sends one. Other 4xx
answers (bad credentials, a wrong URL) fail the source at once with the server's reason.

Redirects are not followed: the API key travels in a header (or the query), and a redirect
could hand it to another host, or loop. A 3xx answer fails the source naming where it
pointed, so the operator can set `base_url` to the API's own address. Any other client
failure, and an answer that is not JSON (or is nested too deep to read), fails the source
with one line that says so; none of them is retried.
"""

import asyncio
import email.utils
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC
from urllib.parse import urlsplit

import aiohttp

from core.clock import Clock, utcnow
from crm_sync.connectors.base import SourceError
from crm_sync.raw import JsonValue

Sleep = Callable[[float], Awaitable[None]]
MAX_BACKOFF_SECONDS = 60.0
ERROR_KEYS = ("errorMsg", "message", "error_description", "error", "detail")


class JsonClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        source: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        max_retries: int = 5,
        max_retry_wait: float = 120.0,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utcnow,
    ) -> None:
        self._session = session
        self._source = source
        self._base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._params = dict(params or {})
        self._max_retries = max_retries
        self._max_retry_wait = max_retry_wait
        self._sleep = sleep
        self._clock = clock

    async def get(self, path: str, params: Mapping[str, str]) -> JsonValue:
        url = f"{self._base_url}/{path.lstrip('/')}"
        query = {**self._params, **params}
        for attempt in range(self._max_retries + 1):
            try:
                async with self._session.get(
                    url, params=query, headers=self._headers, allow_redirects=False
                ) as answer:
                    if answer.status == 429 or answer.status >= 500:
                        problem = f"HTTP {answer.status}"
                        delay = self._retry_after(answer.headers.get("Retry-After"))
                    elif 300 <= answer.status < 400:
                        raise SourceError(
                            f"{self._source}: GET {path} was redirected (HTTP {answer.status})"
                            f"{_where(answer.headers.get('Location'))}; redirects are not "
                            "followed: set base_url to the address the API answers at"
                        )
                    elif answer.status >= 400:
                        reason = error_reason(await _json_or_none(answer))
                        raise SourceError(
                            f"{self._source}: GET {path} was refused: HTTP {answer.status}"
                            + (f": {reason}" if reason else "")
                        )
                    else:
                        return await _json(answer, self._source, path)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as e:
                problem, delay = f"{type(e).__name__}: {e}".rstrip(": "), None
            except aiohttp.ClientError as error:  # not a passing fault: retrying cannot help
                raise SourceError(
                    f"{self._source}: GET {path} failed: {type(error).__name__}"
                ) from None
            wait = delay if delay is not None else min(2.0**attempt, MAX_BACKOFF_SECONDS)
            if attempt == self._max_retries or wait > self._max_retry_wait:
                raise SourceError(
                    f"{self._source}: GET {path} failed after {attempt + 1} attempt(s): {problem}"
                )
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _retry_after(self, header: str | None) -> float | None:
        if not header:
            return None
        if header.strip().isdigit():
            return float(header.strip())
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - self._clock()).total_seconds(), 0.0)


async def _json(answer: aiohttp.ClientResponse, source: str, path: str) -> JsonValue:
    try:
        body: JsonValue = await answer.json(content_type=None)
    except ValueError:
        raise SourceError(f"{source}: GET {path} did not answer with JSON") from None
    except RecursionError:
        raise SourceError(f"{source}: GET {path} answered with JSON nested too deep") from None
    return body


def _where(location: str | None) -> str:
    """The text naming a redirect's target, its query left out (it may echo a key)."""
    if not location:
        return ""
    parts = urlsplit(location)
    where = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path
    return f" to {where}"


async def _json_or_none(answer: aiohttp.ClientResponse) -> JsonValue:
    try:
        body: JsonValue = await answer.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return None
    return body


def error_reason(body: JsonValue) -> str:
    """What an API's error body says, from the usual keys; "" when it says nothing."""
    if isinstance(body, dict):
        for key in ERROR_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:200]
    return ""
