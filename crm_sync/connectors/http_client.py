"""GET JSON from a CRM API, retrying what is worth retrying.

429 and 5xx answers and dropped connections are retried with exponential backoff, or
after the server's Retry-After (seconds or an HTTP date) when it sends one. Other 4xx
answers (bad credentials, a wrong URL) fail the source at once with the server's reason.
"""

import asyncio
import email.utils
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC

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
                async with self._session.get(url, params=query, headers=self._headers) as answer:
                    if answer.status == 429 or answer.status >= 500:
                        problem = f"HTTP {answer.status}"
                        delay = self._retry_after(answer.headers.get("Retry-After"))
                    elif answer.status >= 400:
                        reason = _reason(await _json_or_none(answer))
                        raise SourceError(
                            f"{self._source}: GET {path} was refused: HTTP {answer.status}"
                            + (f": {reason}" if reason else "")
                        )
                    else:
                        return await _json(answer, self._source, path)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as e:
                problem, delay = f"{type(e).__name__}: {e}".rstrip(": "), None
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
    return body


async def _json_or_none(answer: aiohttp.ClientResponse) -> JsonValue:
    try:
        body: JsonValue = await answer.json(content_type=None)
    except (ValueError, aiohttp.ClientError):
        return None
    return body


def _reason(body: JsonValue) -> str:
    if isinstance(body, dict):
        for key in ERROR_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value:
                return value[:200]
    return ""
