"""The FSM state (the admin wizard's step) reaches handlers and filters after the anti-flood
throttle: read with the flood token in one Redis round trip when the buckets and the states
share a Redis, on its own otherwise; either way the wizard carries on and floods are cut
off as before."""

import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from redis.asyncio import Redis
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.wizard_steps import Broadcast
from bot.conversation_state import StatePrefetch
from bot.dispatcher import build_dispatcher
from bot.flood import RedisBuckets
from bot.middlewares import ThrottleMiddleware
from core.events import EventLog
from core.models import Admin, AdminRole
from core.settings import load_settings
from tests.bot.test_shortcut import STICKER, update
from tests.bot.test_write_conflicts import RecordingSession

REDIS_URL = os.environ.get("SEGBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
OTHER_DATABASE = REDIS_URL.rsplit("/", 1)[0] + "/14"


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except OSError:
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    yield client
    await client.aclose()


def stranger() -> int:
    """A user id of this test's own, so that no other run shares its flood bucket."""
    return random.randrange(10**9, 10**10)  # noqa: S311


def dispatcher_with(
    sessionmaker: async_sessionmaker[AsyncSession], event_log: EventLog, redis: Redis, states: str
) -> Dispatcher:
    settings = load_settings(bot_token="1:TEST", secret_key="test-secret", redis_url=states)
    return build_dispatcher(
        settings=settings, sessionmaker=sessionmaker, event_log=event_log, redis=redis
    )


@pytest.mark.parametrize(("states", "read_along"), [(REDIS_URL, True), (OTHER_DATABASE, False)])
async def test_a_marketer_in_the_wizard_reaches_its_step(
    sessionmaker: async_sessionmaker[AsyncSession],
    event_log: EventLog,
    redis: Redis,
    states: str,
    read_along: bool,
) -> None:
    marketer = stranger()
    async with sessionmaker() as session:
        await session.execute(
            insert(Admin).values(
                user_id=marketer, role=AdminRole.MARKETER, added_at=datetime.now(UTC)
            )
        )
        await session.commit()
    dispatcher = dispatcher_with(sessionmaker, event_log, redis, states)
    buckets = RedisBuckets(redis)
    assert (StatePrefetch.of(buckets, redis, dispatcher.fsm) is not None) is read_along
    bot = Bot("1:TEST", session=RecordingSession())
    state = dispatcher.fsm.get_context(bot, chat_id=marketer, user_id=marketer)
    try:
        outside = update(1, "message", {"text": "spring_sale"}, user=marketer)
        assert await dispatcher.feed_update(bot, outside) is UNHANDLED
        await state.set_state(Broadcast.name)
        inside = update(2, "message", {"text": "spring_sale"}, user=marketer)
        assert await dispatcher.feed_update(bot, inside) is not UNHANDLED
        assert await state.get_state() == Broadcast.approach.state
    finally:
        await state.clear()
        await dispatcher.storage.close()


async def test_a_flooder_is_cut_off_while_the_state_is_read_along(
    sessionmaker: async_sessionmaker[AsyncSession], event_log: EventLog, redis: Redis
) -> None:
    dispatcher = dispatcher_with(sessionmaker, event_log, redis, REDIS_URL)
    [throttle] = [
        m for m in dispatcher.update.outer_middleware if isinstance(m, ThrottleMiddleware)
    ]
    bot = Bot("1:TEST", session=RecordingSession())
    flooder = stranger()
    try:
        for number in range(50):
            sticker = update(number, "message", {"sticker": STICKER}, user=flooder)
            await dispatcher.feed_update(bot, sticker)
        assert throttle.dropped > 0
    finally:
        await dispatcher.storage.close()
