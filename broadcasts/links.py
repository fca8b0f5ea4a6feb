"""Tracked links: every URL in a broadcast goes through `/r/<token>` on segbot's web server.

A token is short and signed: base64url of three varints (link, subscriber, delivery) and
an 80-bit HMAC. It names a `Link` row (target URL, tags, UTM campaign and content), so a
forged or altered token finds nothing: no open redirect. A click is logged as a
`link_click` event carrying the link's tags (psychographic signals for segments), and the
target gets `utm_source=telegram&utm_medium=bot&utm_campaign=...&utm_content=...` unless it
already has its own.
"""

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.models import Link
from core.models import Event, EventType
from core.signing import SIGNED_LENGTH, Signer, b64url, b64url_decode

LINK_PURPOSE = "tracked-link"
DOUBLE_HIT_WINDOW = timedelta(seconds=5)
# User agents that fetch a URL to draw a preview card, not because a person clicked.
PREVIEW_AGENTS = (
    "telegrambot",
    "twitterbot",
    "facebookexternalhit",
    "slackbot",
    "whatsapp",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "vkshare",
    "googlebot",
    "bingbot",
    "embedly",
)
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING_PUNCTUATION = ".,;:!?)]}"


@dataclass(frozen=True, slots=True)
class LinkRef:
    link_id: int
    subscriber_id: int
    delivery_id: int | None = None


def link_token(ref: LinkRef, *, secret: str) -> str:
    data = _varints((ref.link_id, ref.subscriber_id, ref.delivery_id or 0))
    return b64url(data) + Signer(secret, purpose=LINK_PURPOSE).sign(data)


def read_token(token: str, *, secret: str) -> LinkRef | None:
    """The reference a token carries, or None if it is malformed or not ours."""
    body, signature = token[:-SIGNED_LENGTH], token[-SIGNED_LENGTH:]
    try:
        data = b64url_decode(body)
        numbers = _read_varints(data)
    except ValueError:
        return None
    if len(numbers) != 3 or not Signer(secret, purpose=LINK_PURPOSE).verify(data, signature):
        return None
    link_id, subscriber_id, delivery_id = numbers
    return LinkRef(link_id, subscriber_id, delivery_id or None)


def tracked_url(public_url: str, ref: LinkRef, *, secret: str) -> str:
    return f"{public_url.rstrip('/')}/r/{link_token(ref, secret=secret)}"


def with_utm(url: str, *, campaign: str, content: str) -> str:
    """`url` with UTM parameters added; ones the URL already has are left as they are."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    wanted = {
        "utm_source": "telegram",
        "utm_medium": "bot",
        "utm_campaign": campaign,
        "utm_content": content,
    }
    query += [(key, value) for key, value in wanted.items() if value and key not in present]
    return urlunsplit(parts._replace(query=urlencode(query)))


def urls_in(text: str) -> list[str]:
    """Every http(s) URL in a message text (HTML hrefs and bare URLs), in order."""
    return [_clean(match.group()) for match in _URL.finditer(text)]


def rewrite_urls(text: str, replace: Callable[[str], str]) -> str:
    """`text` with each URL swapped for `replace(url)`; trailing punctuation stays text."""

    def swap(match: re.Match[str]) -> str:
        url = _clean(match.group())
        return replace(url) + match.group()[len(url) :]

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
    """The Link id of each URL for this campaign/content, created where missing; flushes."""
    existing = await session.execute(
        select(Link.url, Link.id).where(
            Link.campaign == campaign, Link.content == content, Link.url.in_(set(urls))
        )
    )
    ids: dict[str, int] = {url: link_id for url, link_id in existing.all()}  # noqa: C416
    created = [
        Link(url=url, campaign=campaign, content=content, tags=list(tags), created_at=now)
        for url in dict.fromkeys(urls)
        if url not in ids
    ]
    session.add_all(created)
    await session.flush()
    return ids | {link.url: link.id for link in created}


async def record_click(
    session: AsyncSession, *, ref: LinkRef, user_agent: str, now: datetime
) -> Link | None:
    """The link a token names, logging the click unless it is a preview fetch or a repeat
    within seconds; commits. None if the link does not exist."""
    link = await session.get(Link, ref.link_id)
    if link is None:
        return None
    if is_preview_agent(user_agent) or await _clicked_just_now(session, ref, now):
        return link
    session.add(
        Event(
            subscriber_id=ref.subscriber_id,
            type=EventType.LINK_CLICK,
            occurred_at=now,
            delivery_id=ref.delivery_id,
            payload={"link": link.id, "tags": link.tags},
        )
    )
    await session.commit()
    return link


def is_preview_agent(user_agent: str) -> bool:
    agent = user_agent.lower()
    return any(name in agent for name in PREVIEW_AGENTS)


async def _clicked_just_now(session: AsyncSession, ref: LinkRef, now: datetime) -> bool:
    recent = await session.scalars(
        select(Event.payload).where(
            Event.subscriber_id == ref.subscriber_id,
            Event.type == EventType.LINK_CLICK,
            Event.occurred_at > now - DOUBLE_HIT_WINDOW,
        )
    )
    return any(payload.get("link") == ref.link_id for payload in recent)


def _clean(url: str) -> str:
    return url.rstrip(_TRAILING_PUNCTUATION)


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
