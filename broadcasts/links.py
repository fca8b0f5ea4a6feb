"""Tracked links: every URL in a broadcast goes through `/r/<token>` on segbot's web server.

A token is short and signed: base64url of three varints (link, subscriber, delivery) and
an 80-bit HMAC. It names a `Link` row (target URL, tags, UTM campaign and content), so a
forged or altered token finds nothing: no open redirect. A click is logged as a
`link_click` event carrying the link's tags (psychographic signals for segments), and the
target gets `utm_source=telegram&utm_medium=bot&utm_campaign=...&utm_content=...` unless it
already has its own.

Following a link redirects whenever the link exists and its target is safe, but counts a
click only when a person made it:
- a machine's hit (preview, scanner, prefetch, HEAD, HTTP library: broadcasts.click_filter)
  and the same person's second tap within seconds are redirected, not counted;
- a token for a subscriber who is gone (deleted, or erased by `/forget`) is redirected,
  and nobody is logged;
- the target is checked again when followed, whatever wrote the row: only an absolute
  http(s) URL is redirected to, never `javascript:`, `data:` or `file:`
  (UnsafeTargetError, which the web server answers with 404).
"""

import functools
import html
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from broadcasts.click_filter import not_a_click
from broadcasts.models import Link
from core.db import upsert
from core.erasure import is_erased
from core.errors import SegbotError
from core.models import Event, EventType, Subscriber
from core.signing import SIGNED_LENGTH, Signer, b64url, b64url_decode

LINK_PURPOSE = "tracked-link"
DOUBLE_HIT_WINDOW = timedelta(seconds=5)
SAFE_SCHEMES = ("http", "https")
# A link target's longest, in UTF-8 bytes: past about 2,000 browsers and servers start to
# refuse URLs, and PostgreSQL could not index one much longer in the links table.
MAX_TARGET_BYTES = 2000
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING_PUNCTUATION = ".,;:!?)]}"
_ENTITY_CUT = re.compile(r"&#?\w+$")  # an HTML entity whose ";" the punctuation took

logger = logging.getLogger(__name__)


class UnsafeTargetError(SegbotError):
    """A link's target is not an absolute http(s) URL, so nobody is sent there."""


@dataclass(frozen=True, slots=True)
class LinkRef:
    link_id: int
    subscriber_id: int
    delivery_id: int | None = None


def link_token(ref: LinkRef, *, secret: str) -> str:
    data = _varints((ref.link_id, ref.subscriber_id, ref.delivery_id or 0))
    return b64url(data) + _signer(secret).sign(data)


def read_token(token: str, *, secret: str) -> LinkRef | None:
    """The reference a token carries, or None if it is malformed or not ours."""
    body, signature = token[:-SIGNED_LENGTH], token[-SIGNED_LENGTH:]
    try:
        data = b64url_decode(body)
        numbers = _read_varints(data)
    except ValueError:
        return None
    if len(numbers) != 3 or not _signer(secret).verify(data, signature):
        return None
    link_id, subscriber_id, delivery_id = numbers
    return LinkRef(link_id, subscriber_id, delivery_id or None)


def tracked_url(public_url: str, ref: LinkRef, *, secret: str) -> str:
    return f"{public_url.rstrip('/')}/r/{link_token(ref, secret=secret)}"


def with_utm(url: str, *, campaign: str, content: str) -> str:
    """`url` with UTM parameters added after its own query, which is kept as written (read
    only to see which UTM parameters it has already: those are left as they are)."""
    parts = urlsplit(url)
    present = {key for key, _ in parse_qsl(parts.query, keep_blank_values=True)}
    wanted = {
        "utm_source": "telegram",
        "utm_medium": "bot",
        "utm_campaign": campaign,
        "utm_content": content,
    }
    added = urlencode(
        [(key, value) for key, value in wanted.items() if value and key not in present]
    )
    if not added:
        return url
    joined = added if not parts.query else parts.query.removesuffix("&") + "&" + added
    return urlunsplit(parts._replace(query=joined))


def urls_in(text: str) -> list[str]:
    """Every http(s) URL in a message's HTML (hrefs and bare URLs), in order, as a reader
    follows it: its entities read (`?a=1&amp;b=2` is `?a=1&b=2`)."""
    return [html.unescape(_clean(match.group())) for match in _URL.finditer(text)]


def rewrite_urls(text: str, replace: Callable[[str], str]) -> str:
    """`text`, HTML, with each URL swapped for `replace(url)`: `url` read as `urls_in`
    reads it, what replaces it written back as HTML. Trailing punctuation stays text."""

    def swap(match: re.Match[str]) -> str:
        written = _clean(match.group())
        return html.escape(replace(html.unescape(written))) + match.group()[len(written) :]

    return _URL.sub(swap, text)


async def register_links(
    session: AsyncSession,
    urls: Sequence[str],
    *,
    campaign: str = "",
    content: str = "",
    tags: Sequence[str] = (),
    now: datetime,
) -> dict[str, int]:
    """The Link id of each URL for this campaign/content, created where missing (another
    session creating the same at once is waited for, and its link is the one)."""
    where = (Link.campaign == campaign, Link.content == content, Link.url.in_(set(urls)))
    existing = dict((await session.execute(select(Link.url, Link.id).where(*where))).all())
    row = {"campaign": campaign, "content": content, "tags": list(tags), "created_at": now}
    missing = [{"url": url, **row} for url in dict.fromkeys(urls) if url not in existing]
    if not missing:
        return existing
    await upsert(session, Link, missing, key=["campaign", "content", "url"], update=())
    return dict((await session.execute(select(Link.url, Link.id).where(*where))).all())


async def follow(
    session: AsyncSession,
    *,
    ref: LinkRef,
    method: str,
    headers: Mapping[str, str],
    now: datetime,
) -> str | None:
    """Where a hit on the link `ref` names goes: its target with UTM parameters. Logs a
    click if a person made it (see the module docstring); commits.

    None if the link does not exist; UnsafeTargetError if its target is not http(s).
    """
    link = await session.get(Link, ref.link_id)
    if link is None:
        return None
    target = with_utm(check_target(link.url), campaign=link.campaign, content=link.content)
    machine = not_a_click(method=method, headers=headers)
    if machine is not None:
        logger.debug("link %d fetched by a machine (%s): redirected, not counted", link.id, machine)
        return target
    # Taps at the same moment take turns, each finding the clicks of those before it: on
    # PostgreSQL the subscriber's row stays locked until the commit, on SQLite the write
    # transaction (begun by the INSERT) holds the database until then.
    if await _gone(session, ref.subscriber_id):
        return target
    click = Event(
        subscriber_id=ref.subscriber_id,
        type=EventType.LINK_CLICK,
        occurred_at=now,
        delivery_id=ref.delivery_id,
        payload={"link": link.id, "tags": link.tags},
    )
    session.add(click)
    try:
        await session.flush()
    except IntegrityError:  # the row was deleted since `_gone` looked: nobody to log
        await session.rollback()
        return target
    if await _clicked_just_now(session, ref, now, besides=click.id):
        await session.rollback()
    else:
        await session.commit()
    return target


def check_target(url: str) -> str:
    """`url` as a redirect sends it (encoded by the parser aiohttp's redirects use), if a
    person may be sent there: an absolute http(s) URL with a host, and no whitespace,
    control characters or backslashes (which browsers read as slashes)."""
    if not url.isprintable() or " " in url or "\\" in url:
        raise _unsafe(url, "has whitespace, control characters or a backslash")
    try:
        parsed = URL(url)
    except ValueError as error:  # a bad port, IPv6 address or international host name
        raise _unsafe(url, f"is malformed: {error}") from error
    if parsed.scheme not in SAFE_SCHEMES or not parsed.host:
        raise _unsafe(url, "is not an absolute http(s) URL")
    return str(parsed)


def check_new_target(url: str) -> str:
    """`check_target` for a URL a campaign or journey is saved with, which may also be at
    most MAX_TARGET_BYTES long."""
    target = check_target(url)
    size = len(url.encode())
    if size > MAX_TARGET_BYTES:
        raise _unsafe(
            url, f"is {size:,} bytes long; a link target may have at most {MAX_TARGET_BYTES:,}"
        )
    return target


def _unsafe(url: str, problem: str) -> UnsafeTargetError:
    return UnsafeTargetError(f"the link target {url[:80]!r} {problem}")


async def _gone(session: AsyncSession, subscriber_id: int) -> bool:
    """No such subscriber any more, or only the anonymous row `/forget` leaves; else
    their row is locked until the transaction ends (PostgreSQL)."""
    query = select(Subscriber.id).where(Subscriber.id == subscriber_id, ~is_erased())
    return await session.scalar(query.with_for_update()) is None


async def _clicked_just_now(
    session: AsyncSession, ref: LinkRef, now: datetime, *, besides: int
) -> bool:
    """Whether the link got a click from the subscriber within DOUBLE_HIT_WINDOW, other
    than the event `besides`."""
    recent = await session.scalars(
        select(Event.payload).where(
            Event.subscriber_id == ref.subscriber_id,
            Event.type == EventType.LINK_CLICK,
            Event.occurred_at > now - DOUBLE_HIT_WINDOW,
            Event.id != besides,
        )
    )
    return any(payload.get("link") == ref.link_id for payload in recent)


@functools.lru_cache(maxsize=8)
def _signer(secret: str) -> Signer:
    """The links' signer for `secret`, its key derived once: a broadcast signs a link for
    every URL of every message."""
    return Signer(secret, purpose=LINK_PURPOSE)


def _clean(url: str) -> str:
    """`url` without the punctuation of the sentence around it; an entity keeps its ";"."""
    cleaned = url.rstrip(_TRAILING_PUNCTUATION)
    if url[len(cleaned) :].startswith(";") and _ENTITY_CUT.search(cleaned):
        return cleaned + ";"
    return cleaned


def _varints(numbers: Sequence[int]) -> bytes:
    out = bytearray()
    for number in numbers:
        if number < 0:
            raise ValueError("varints are unsigned")
        while True:
            byte, number = number & 0x7F, number >> 7
            out.append(byte | (0x80 if number else 0))
            if not number:
                break
    return bytes(out)


def _read_varints(data: bytes) -> list[int]:
    numbers, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")
        if not byte & 0x80:
            numbers.append(value)
            value, shift = 0, 0
    if shift:
        raise ValueError("truncated varint")
    return numbers
