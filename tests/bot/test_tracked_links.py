"""The `/r/<token>` redirect over HTTP: machines are redirected but never counted, a token
for someone who is gone still redirects, and only http(s) targets are ever redirected to."""

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.web_server import create_web_app
from broadcasts.links import (
    LinkRef,
    UnsafeTargetError,
    check_target,
    link_token,
    register_links,
    with_utm,
)
from broadcasts.models import Link
from core.models import Event, EventType, Subscriber
from core.subscribers import forget
from tests.broadcasts.audience import NOW, add_subscribers

SECRET = "s"
TARGET = "https://shop.example/sale"
PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile"
Client = TestClient[web.Request, web.Application]


@asynccontextmanager
async def served(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Client]:
    app = create_web_app(sessionmaker=sessionmaker, secret=SECRET, clock=lambda: NOW)
    async with TestClient(TestServer(app)) as client:
        yield client


async def tracked_path(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[str, int]:
    """A tracked link for a fresh subscriber: its path on the web server, and the subscriber."""
    async with sessionmaker() as session:
        [subscriber_id] = await add_subscribers(session, 1)
        links = await register_links(session, [TARGET], campaign="bf", now=NOW)
        await session.commit()
    token = link_token(LinkRef(links[TARGET], subscriber_id, delivery_id=3), secret=SECRET)
    return f"/r/{token}", subscriber_id


async def clicks(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Event]:
    async with sessionmaker() as session:
        found = await session.scalars(select(Event).where(Event.type == EventType.LINK_CLICK))
        return list(found)


def redirects_to_target(answer: ClientResponse) -> bool:
    return answer.status == 302 and answer.headers.get("Location", "").startswith(TARGET + "?")


MACHINES: list[tuple[str, Mapping[str, str]]] = [
    ("HEAD", {"User-Agent": PHONE}),
    ("GET", {"User-Agent": ""}),
    ("GET", {}),
    ("GET", {"User-Agent": "curl/8.5.0"}),
    ("GET", {"User-Agent": "python-requests/2.32.3"}),
    ("GET", {"User-Agent": "Python/3.11 aiohttp/3.10.5"}),
    ("GET", {"User-Agent": "Go-http-client/1.1"}),
    ("GET", {"User-Agent": "Wget/1.21.4"}),
    ("GET", {"User-Agent": "okhttp/4.12.0"}),
    ("GET", {"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}),
    ("GET", {"User-Agent": "Mastodon/4.2.10 (http.rb/5.1.1; +https://mastodon.social/)"}),
    ("GET", {"User-Agent": "Iframely/1.3.1 (+https://iframely.com/docs/about)"}),
    ("GET", {"User-Agent": "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0)"}),
    ("GET", {"User-Agent": "TelegramBot (like TwitterBot)"}),
    ("GET", {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"}),
    ("GET", {"User-Agent": PHONE, "Sec-Purpose": "prefetch"}),
    ("GET", {"User-Agent": PHONE, "Sec-Purpose": "prefetch;prerender"}),
    ("GET", {"User-Agent": PHONE, "Purpose": "prefetch"}),
    ("GET", {"User-Agent": PHONE, "X-Moz": "prefetch"}),
]


@pytest.mark.parametrize(("method", "headers"), MACHINES)
async def test_machines_are_redirected_but_not_counted(
    sessionmaker: async_sessionmaker[AsyncSession], method: str, headers: Mapping[str, str]
) -> None:
    path, _ = await tracked_path(sessionmaker)
    async with served(sessionmaker) as client:
        # aiohttp's client adds its own User-Agent unless told to skip it.
        skip = () if "User-Agent" in headers else ("User-Agent",)
        answer = await client.request(
            method, path, headers=headers, allow_redirects=False, skip_auto_headers=skip
        )
        assert redirects_to_target(answer)
    assert await clicks(sessionmaker) == []


async def test_a_person_after_a_scanner_is_counted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    path, subscriber_id = await tracked_path(sessionmaker)
    async with served(sessionmaker) as client:
        scanner = await client.head(path, allow_redirects=False)
        person = await client.get(path, headers={"User-Agent": PHONE}, allow_redirects=False)
        assert redirects_to_target(scanner)
        assert redirects_to_target(person)
    [click] = await clicks(sessionmaker)
    assert (click.subscriber_id, click.delivery_id) == (subscriber_id, 3)


async def test_a_token_for_a_deleted_subscriber_still_redirects(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    path, subscriber_id = await tracked_path(sessionmaker)
    async with sessionmaker() as session:
        await session.execute(delete(Subscriber).where(Subscriber.id == subscriber_id))
        await session.commit()
    async with served(sessionmaker) as client:
        answer = await client.get(path, headers={"User-Agent": PHONE}, allow_redirects=False)
        assert redirects_to_target(answer)
    assert await clicks(sessionmaker) == []


async def test_a_token_for_a_forgotten_subscriber_still_redirects_uncounted(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    path, subscriber_id = await tracked_path(sessionmaker)
    async with sessionmaker() as session:
        telegram_id = await session.scalar(
            select(Subscriber.telegram_id).where(Subscriber.id == subscriber_id)
        )
        assert telegram_id is not None
        await forget(session, telegram_id=telegram_id, now=NOW)
        await session.commit()
    async with served(sessionmaker) as client:
        answer = await client.get(path, headers={"User-Agent": PHONE}, allow_redirects=False)
        assert redirects_to_target(answer)
    assert await clicks(sessionmaker) == []


@pytest.mark.parametrize(
    "stored",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "//evil.example/",
        "https://[::1/broken",
        "https://shop.example:99999/",
        "https://shop.example\\@evil.example/",
        "https://shop.example/\r\nSet-Cookie: x=1",
    ],
)
async def test_only_http_targets_are_redirected_to(
    sessionmaker: async_sessionmaker[AsyncSession], stored: str
) -> None:
    """A Link row changed after it was made (a hand edit, an older version) is refused."""
    path, _ = await tracked_path(sessionmaker)
    async with sessionmaker() as session:
        await session.execute(update(Link).values(url=stored))
        await session.commit()
    async with served(sessionmaker) as client:
        answer = await client.get(path, headers={"User-Agent": PHONE}, allow_redirects=False)
        assert answer.status == 404
        assert "Location" not in answer.headers
    assert await clicks(sessionmaker) == []


async def test_an_international_target_is_redirected_to_in_ascii(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    path, _ = await tracked_path(sessionmaker)
    async with sessionmaker() as session:
        await session.execute(update(Link).values(url="https://пример.рф/скидка"))
        await session.commit()
    async with served(sessionmaker) as client:
        answer = await client.get(path, headers={"User-Agent": PHONE}, allow_redirects=False)
        assert answer.status == 302
        assert answer.headers["Location"].startswith(
            "https://xn--e1afmkfd.xn--p1ai/%D1%81%D0%BA%D0%B8%D0%B4%D0%BA%D0%B0?utm_source="
        )


@given(
    scheme=st.sampled_from(["https://", "http://", "HTTP://", "https:"]),
    host=st.text(),
    rest=st.text(),
)
def test_every_target_accepted_can_be_redirected_to(scheme: str, host: str, rest: str) -> None:
    """What `check_target` lets through never makes the redirect itself fail (a 500)."""
    try:
        target = check_target(scheme + host + rest)
    except UnsafeTargetError:
        return
    location = web.HTTPFound(with_utm(target, campaign="c", content="t/v")).headers["Location"]
    assert location.startswith(("http://", "https://"))
