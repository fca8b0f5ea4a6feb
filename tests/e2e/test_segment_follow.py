"""Segment membership follows what subscribers do, through the real bot: a reply logged
by the event log moves its sender into a segment, and /stop out of one, within seconds,
with no full refresh (the scheduled one is 15 minutes away)."""

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.models import Event, EventType, Subscriber
from segments.membership import refresh_memberships
from segments.saved import save_segment
from telegram_emulator import Emulator
from tests.e2e.conftest import SETTLES_WITHIN
from tests.polling import until

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("running_bot")]

USER = 6160


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
