"""GET JSON from a CRM API, retrying what is worth retrying.

429 and 5xx answers and dropped connections are retried with exponential backoff, or
after the server's Retry-After (seconds or an HTTP date) when it sends one; a wait longer
than `max_retry_wait` is not waited, and the source fails saying how long it was. Other
4xx answers (bad credentials, a wrong URL) fail the source at once with the server's
reason. A body is read in the charset its answer names when that is a text encoding, else
as UTF-8.

Redirects are not followed: the API key travels in a header (or the query), and a redirect
could hand it to another host, or loop. A 3xx answer fails the source naming where it
pointed, so the operator can set `base_url` to the API's own address. Any other client
failure, and an answer that is not JSON (or is nested too deep to read), fails the source
with one line that says so; none of them is retried. So does an answer longer than
`max_body_bytes` (64 MiB unless told), read no further: a page that size is a sign of an
API that ignores the page size, or of one that never ends its answer, and reading it on
would take the process's memory.

What a server says, and what a failure says, is repeated in those lines with the client's
credentials (its header and query values, the secrets it is given, each also as a URL or
HTML writes it) and the query of any URL cut out, on one line with what prints nothing
escaped, so neither an API that echoes the key it was sent (or the address it was asked)
nor a timeout naming the URL (a key sent in the query with it) puts the key in the run's
error or a log. `JsonClient.redacted` cuts them out of the connector's own messages that
repeat what an API sent (a record's keys, a cursor).
"""

import asyncio
import base64
import codecs
import email.utils
import html
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC
from urllib.parse import quote, quote_plus, urlsplit

import aiohttp
import yarl

from core.clock import Clock, utcnow
from crm_sync.connectors.base import SourceError
from crm_sync.raw import JsonValue, printable

Sleep = Callable[[float], Awaitable[None]]
MAX_BACKOFF_SECONDS = 60.0
ERROR_KEYS = ("errorMsg", "message", "error_description", "error", "detail")
MAX_BODY_BYTES = 64 * 2**20
URL_QUERY = re.compile(r"(\w+://[^\s?#]*)\?[^\s#]*")  # a URL, then its query
PERCENT_ESCAPE = re.compile("%[0-9A-F]{2}")
MIN_SECRET = 4  # shorter header or query values are not cut out of what a server says
# A secret this long is cut out in any case (an API may echo a key upper-cased); a shorter
# one only as written, or it would blank ordinary words ("wrong" in "Wrong key").
ANY_CASE_SECRET = 12


class JsonClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        source: str,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        secrets: Sequence[str] = (),
        max_retries: int = 5,
        max_retry_wait: float = 120.0,
        max_body_bytes: int = MAX_BODY_BYTES,
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
        self._max_body_bytes = max_body_bytes
        self._sleep = sleep
        self._clock = clock
        self._secrets = _secrets([*self._headers.values(), *self._params.values(), *secrets])

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
                        where = _where(answer.headers.get("Location"), self._secrets)
                        raise SourceError(
                            f"{self._source}: GET {path} was redirected (HTTP {answer.status})"
                            f"{where}; redirects are not followed: set base_url to the "
                            "address the API answers at"
                        )
                    elif answer.status >= 400:
                        reason = self.reason(await self._error_body(answer, path))
                        raise SourceError(
                            f"{self._source}: GET {path} was refused: HTTP {answer.status}"
                            + (f": {reason}" if reason else "")
                        )
                    else:
                        return await self._json(answer, path)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as e:
                said = _redacted(str(e), self._secrets)  # aiohttp may name the URL, query too
                problem, delay = f"{type(e).__name__}: {said}".rstrip(": "), None
            except aiohttp.ClientError as error:  # not a passing fault: retrying cannot help
                raise SourceError(
                    f"{self._source}: GET {path} failed: {type(error).__name__}"
                ) from None
            wait = delay if delay is not None else min(2.0**attempt, MAX_BACKOFF_SECONDS)
            if attempt == self._max_retries or wait > self._max_retry_wait:
                raise SourceError(
                    f"{self._source}: GET {path} failed after {attempt + 1} attempt(s): {problem}"
                    + self._too_long(wait, asked=delay is not None)
                )
            await self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _json(self, answer: aiohttp.ClientResponse, path: str) -> JsonValue:
        """The answer's JSON body, read up to `max_body_bytes`."""
        where = f"{self._source}: GET {path}"
        body = bytearray()
        async for chunk in answer.content.iter_any():
            body += chunk
            if len(body) > self._max_body_bytes:
                raise SourceError(
                    f"{where} answered with more than {self._max_body_bytes:,} bytes; "
                    "ask for smaller pages (pagination.page_size)"
                )
        charset = _charset(answer)
        try:
            text = body.decode(charset)
            parsed: JsonValue = json.loads(text) if text.strip() else None
        except UnicodeDecodeError as error:
            raise SourceError(
                f"{where} answered with bytes that are not {charset.removesuffix('-sig')} text "
                f"(byte {error.start})"
            ) from None
        except ValueError:
            raise SourceError(f"{where} did not answer with JSON") from None
        except RecursionError:
            raise SourceError(f"{where} answered with JSON nested too deep") from None
        return parsed

    async def _error_body(self, answer: aiohttp.ClientResponse, path: str) -> JsonValue:
        """A refusal's JSON body, read as any answer is (up to `max_body_bytes`, in its
        charset if that is a text encoding); None when it has none that reads."""
        try:
            return await self._json(answer, path)
        except (SourceError, aiohttp.ClientError, TimeoutError):  # the status says enough
            return None

    def redacted(self, text: str) -> str:
        """`text` with the client's credentials and the query of any URL cut out."""
        return _redacted(text, self._secrets)

    def reason(self, body: JsonValue) -> str:
        """What an API's error body says (`error_reason`), the credentials cut out."""
        return error_reason(body, secrets=self._secrets)

    def _too_long(self, wait: float, *, asked: bool) -> str:
        """Why the retries stopped early, when a wait past `max_retry_wait` stopped them:
        else "failed after 1 attempt(s)" of a source allowed five reads as a fault."""
        if wait <= self._max_retry_wait:
            return ""
        who = "the server asked to wait" if asked else "the next wait would be"
        return f"; {who} {wait:g} s, longer than a retry waits ({self._max_retry_wait:g} s at most)"

    def _retry_after(self, header: str | None) -> float | None:
        if not header:
            return None
        if header.strip().isdecimal():  # "²" is a digit, but no number
            return float(header.strip())
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max((when - self._clock()).total_seconds(), 0.0)


def _charset(answer: aiohttp.ClientResponse) -> str:
    """The answer's declared charset when Python knows it as a text encoding, else UTF-8
    (JSON's own), a byte order mark before it skipped. Python also knows codecs of bytes
    to bytes (base64, zlib, rot13), which cannot decode text: a server naming one is
    answered as one naming no charset."""
    try:
        name = codecs.lookup(answer.charset or "utf-8").name
        "".encode(name)  # raises LookupError for a codec that is no text encoding
    except LookupError:
        name = "utf-8"
    return "utf-8-sig" if name == "utf-8" else name  # a byte order mark read as none


def _where(location: str | None, secrets: Sequence[str]) -> str:
    """The text naming a redirect's target, its query and `secrets` left out (it may echo
    a key)."""
    if not location:
        return ""
    try:
        parts = urlsplit(location)
    except ValueError:  # "http://[::1/x": named as sent, what a URL's query holds cut out
        where = location.partition("?")[0]
    else:
        where = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.netloc else parts.path
    return f" to {printable(_redacted(where, secrets))[:200]}"


def error_reason(body: JsonValue, *, secrets: Sequence[str] = ()) -> str:
    """What an API's error body says, from the usual keys, each of `secrets` in it
    replaced by [redacted], on one line and printable; "" when it says nothing."""
    if isinstance(body, dict):
        for key in ERROR_KEYS:
            value = body.get(key)
            if isinstance(value, str) and value:
                return printable(_redacted(value, secrets))[:200]
    return ""


def _redacted(text: str, secrets: Sequence[str]) -> str:
    """`text` with the query of each URL in it left out, and each of `secrets` replaced
    by [redacted] (the longer ones in whatever case they are written)."""
    text = URL_QUERY.sub(r"\1", text)
    if "&" in text and _holds_secret(html.unescape(text), secrets):  # an HTML page's "&#43;"
        text = html.unescape(text)
    for secret in secrets:
        case = re.IGNORECASE if len(secret) >= ANY_CASE_SECRET else re.NOFLAG
        text = re.sub(re.escape(secret), "[redacted]", text, flags=case)
    return text


def _holds_secret(text: str, secrets: Sequence[str]) -> bool:
    """Whether one of `secrets` is in `text` (the longer ones in any case)."""
    folded = text.casefold()
    return any(
        secret in text or (len(secret) >= ANY_CASE_SECRET and secret.casefold() in folded)
        for secret in secrets
    )


def _secrets(values: Sequence[str]) -> tuple[str, ...]:
    """The credentials among header and query values and secrets, longest first: each
    value, and its last word (the token of "Bearer <token>"), each also as a URL writes
    it. An API that echoes the address it was asked ("/contacts?apiKey=s3cret%2B42
    is not allowed") echoes a query key percent-encoded, as it was sent."""
    found = {part for value in values for part in (value, *value.split()[-1:])}
    forms = {form for part in found for form in (*_url_forms(part), *_base64_forms(part))}
    return tuple(sorted((form for form in forms if len(form) >= MIN_SECRET), key=len, reverse=True))


def _base64_forms(secret: str) -> set[str]:
    """`secret` in base64 (either alphabet, padded or not), as an API that says which
    credentials it refused may write them (Basic authentication sends them so)."""
    raw = secret.encode()
    coded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return coded | {form.rstrip("=") for form in coded}


def _url_forms(secret: str) -> set[str]:
    """`secret` as written, as aiohttp writes it in a query, and percent-encoded whole,
    each escape in either case (`%2B`, or `%2b` as .NET writes it). As HTML escapes it,
    `_redacted` reads the text unescaped."""
    sent = yarl.URL.build(query={"k": secret}).raw_query_string.removeprefix("k=")
    encoded = {sent, quote(secret, safe=""), quote_plus(secret)}
    lower_case = {
        PERCENT_ESCAPE.sub(lambda escape: escape.group().lower(), form) for form in encoded
    }
    return {secret, *encoded, *lower_case}
