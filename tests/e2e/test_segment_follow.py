"""Segment membership follows what subscribers do, through the real bot: a reply logged
by the event log moves its sender into a segment, and /stop out of one, within seconds,
with no full refresh (the scheduled one is 15 minutes away); so does a tracked-link click,
which the web server writes itself."""

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.links import LinkRef, register_links, tracked_url
from core.clock import utcnow
from core.models import Event, EventType, Subscriber
from core.settings import Settings
from core.subscribers import Profile, subscribe
from segments.membership import refresh_memberships
from segments.saved import save_segment
from telegram_emulator import Emulator
from tests.e2e.conftest import SECRET_KEY, SETTLES_WITHIN
from tests.polling import until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 6160
BROWSER = "Mozilla/5.0 (Android 14; Mobile) Firefox/130.0"


async def crossings(
    sessionmaker: async_sessionmaker[AsyncSession], kind: EventType = EventType.SEGMENT_ENTERED
) -> list[tuple[int, str]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Event.subscriber_id, Event.payload["segment"].as_string()).where(
                Event.type == kind
            )
        )
        return [(who, segment) for who, segment in rows.all()]


async def test_a_reply_enters_a_segment_and_stop_leaves_one(
    emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await emulator.send_text(USER, "/start")
    await emulator.wait_for_messages(USER, count=2)  # the welcome and the quiz
    async with sessionmaker() as session:
        subscriber = await session.scalar(select(Subscriber).where(Subscriber.telegram_id == USER))
        assert subscriber is not None
        await save_segment(session, name="talkers", rule_text="replied within 1d", now=utcnow())
        await save_segment(session, name="listening", rule_text="status = active", now=utcnow())
    await refresh_memberships(sessionmaker, now=utcnow())  # the baseline: nobody replied yet
    assert await crossings(sessionmaker) == []

    await emulator.send_text(USER, "hello, is this thing on?")

    async def entered() -> bool:
        return await crossings(sessionmaker) == [(subscriber.id, "talkers")]

    await until(entered, within=SETTLES_WITHIN, what="the reply to move them into `talkers`")

    await emulator.send_text(USER, "/stop")

    async def left() -> bool:
        gone = await crossings(sessionmaker, EventType.SEGMENT_LEFT)
        return gone == [(subscriber.id, "listening")]

    await until(left, within=SETTLES_WITHIN, what="/stop to move them out of `listening`")


async def test_a_tracked_link_click_enters_a_segment(
    bot_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:  # subscribed earlier: the bot hears nothing of them
        subscriber, _ = await subscribe(
            session, profile=Profile(USER, USER), source=None, now=utcnow()
        )
        links = await register_links(session, ["https://shop.example/sale"], now=utcnow())
        await session.commit()
        await save_segment(session, name="clickers", rule_text="clicked within 1d", now=utcnow())
    await refresh_memberships(sessionmaker, now=utcnow())  # the baseline: nobody clicked yet
    assert await crossings(sessionmaker) == []

    ref = LinkRef(links["https://shop.example/sale"], subscriber.id)
    url = tracked_url(bot_settings.public_url, ref, secret=SECRET_KEY)
    async with (
        aiohttp.ClientSession() as http,
        http.get(url, allow_redirects=False, headers={"User-Agent": BROWSER}) as click,
    ):
        assert click.status == 302

    async def entered() -> bool:
        return await crossings(sessionmaker) == [(subscriber.id, "clickers")]

    await until(entered, within=SETTLES_WITHIN, what="the click to move them into `clickers`")
