"""Tracked links and inferred reads, through the real bot's web server and the emulator."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.links import LinkRef, register_links, tracked_url
from core.inferred_reads import inferred_read_at
from core.models import Event, Subscriber
from core.settings import Settings
from telegram_emulator import Emulator
from tests.e2e.conftest import SECRET_KEY, SETTLES_WITHIN
from tests.polling import until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 6262
BROWSER = "Mozilla/5.0 (Android 14; Mobile) Firefox/130.0"


async def subscribed(emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    await emulator.send_text(USER, "/start")
    await emulator.wait_for_messages(USER, count=2)
    async with sessionmaker() as session:
        subscriber_id = await session.scalar(
            select(Subscriber.id).where(Subscriber.telegram_id == USER)
        )
    assert subscriber_id is not None
    return subscriber_id


async def clicks(sessionmaker: async_sessionmaker[AsyncSession]) -> list[Event]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Event).where(Event.type == "link_click")))


async def test_a_click_redirects_with_utm_and_is_logged_once(
    emulator: Emulator, bot_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    subscriber_id = await subscribed(emulator, sessionmaker)
    async with sessionmaker() as session:
        links = await register_links(
            session,
            ["https://shop.example/sale?size=42"],
            campaign="black_friday",
            content="vip/a",
            tags=["interest:shoes"],
            now=datetime.now(UTC),
        )
        await session.commit()
    ref = LinkRef(links["https://shop.example/sale?size=42"], subscriber_id, delivery_id=5)
    url = tracked_url(bot_settings.public_url, ref, secret=SECRET_KEY)

    async with aiohttp.ClientSession() as http:
        async with http.get(
            url, allow_redirects=False, headers={"User-Agent": "TelegramBot (like TwitterBot)"}
        ) as preview:
            assert preview.status == 302  # previews still work, but are not clicks
        async with http.get(url, allow_redirects=False, headers={"User-Agent": BROWSER}) as click:
            assert click.status == 302
            target = urlsplit(click.headers["Location"])
            assert (target.netloc, target.path) == ("shop.example", "/sale")
            assert parse_qs(target.query) == {
                "size": ["42"],
                "utm_source": ["telegram"],
                "utm_medium": ["bot"],
                "utm_campaign": ["black_friday"],
                "utm_content": ["vip/a"],
            }
        async with http.get(url, allow_redirects=False, headers={"User-Agent": BROWSER}):
            pass  # the same person's double tap

    [logged] = await clicks(sessionmaker)
    assert (logged.subscriber_id, logged.delivery_id) == (subscriber_id, 5)
    assert logged.payload["tags"] == ["interest:shoes"]


async def test_a_forged_token_is_404_and_no_redirect(
    emulator: Emulator, bot_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    subscriber_id = await subscribed(emulator, sessionmaker)
    genuine = tracked_url(
        bot_settings.public_url, LinkRef(1, subscriber_id), secret="someone-elses-key"
    )
    unknown = tracked_url(
        bot_settings.public_url, LinkRef(424242, subscriber_id), secret=SECRET_KEY
    )
    async with aiohttp.ClientSession() as http:
        for url in (genuine, unknown, bot_settings.public_url + "/r/garbage"):
            async with http.get(url, allow_redirects=False) as response:
                assert response.status == 404
                assert "Location" not in response.headers
    assert await clicks(sessionmaker) == []


async def test_a_message_counts_as_read_at_the_next_sign_of_life(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    subscriber_id = await subscribed(emulator, sessionmaker)
    sent_at = datetime.now(UTC)  # as if a broadcast had just been delivered

    async def read_at() -> datetime | None:
        async with sessionmaker() as session:
            return await inferred_read_at(session, subscriber_id=subscriber_id, sent_at=sent_at)

    assert await read_at() is None
    await emulator.react(USER, emulator.messages_to(USER)[0].message_id, "🔥")

    async def was_read() -> bool:
        return await read_at() is not None

    await until(was_read, within=SETTLES_WITHIN, what="the message counted as read")
    moment = await read_at()
    assert moment is not None
    assert moment >= sent_at
