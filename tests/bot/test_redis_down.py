"""With SEGBOT_REDIS_URL set and Redis not answering, the bot goes on without it: a
subscriber's /start and /stop are handled (no apology), flood limits are the process's
own, and the operator reads one WARNING, not one per update."""

import logging
import socket

import pytest
from aiogram import Bot
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import build_dispatcher
from bot.middlewares import ThrottleMiddleware
from bot.redis_outage import RedisOutage
from core.events import EventLog
from core.models import Subscriber, SubscriberStatus
from core.settings import load_settings
from tests.bot.test_shortcut import STICKER, update
from tests.bot.test_write_conflicts import RecordingSession

SUBSCRIBER = 700_001


def nobody_listens() -> str:
    """The URL of a Redis that is not there: a port just freed on this host."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.mark.parametrize("same_redis", [True, False], ids=["one-redis", "states-elsewhere"])
async def test_start_and_stop_are_handled_while_redis_is_down(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    event_log: EventLog,
    caplog: pytest.LogCaptureFixture,
    same_redis: bool,
) -> None:
    buckets_url, states_url = nobody_listens(), nobody_listens()
    settings = load_settings(
        bot_token="1:TEST",
        secret_key="test-secret",
        redis_url=buckets_url if same_redis else states_url,
    )
    redis = Redis.from_url(buckets_url)
    dispatcher = build_dispatcher(
        settings=settings, sessionmaker=sessionmaker, event_log=event_log, redis=redis
    )
    session_ = RecordingSession()
    bot = Bot("1:TEST", session=session_)
    try:
        with caplog.at_level(logging.INFO, logger="bot"):
            for number, text in enumerate(["/start", "/stop"], start=1):
                said = update(number, "message", {"text": text}, user=SUBSCRIBER)
                await dispatcher.feed_update(bot, said)
    finally:
        await dispatcher.storage.close()
        await redis.aclose()
    await event_log.flush()
    apology = "Sorry, something went wrong on our side."  # bot.errors
    assert session_.sent
    assert not [text for text in session_.sent if text.startswith(apology)]
    status = await session.scalar(
        select(Subscriber.status)
        .where(Subscriber.chat_id == SUBSCRIBER)
        .execution_options(populate_existing=True)
    )
    assert status is SubscriberStatus.UNSUBSCRIBED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings
    assert all(line.startswith("Redis does not answer (ConnectionError): ") for line in warnings)
    assert len(warnings) <= 2  # once for the flood buckets, once for the states: not per update
    assert buckets_url.rsplit(":", 1)[1] not in caplog.text  # nor where it is


async def test_the_flood_limit_still_holds_in_the_process_meanwhile(
    sessionmaker: async_sessionmaker[AsyncSession], event_log: EventLog
) -> None:
    url = nobody_listens()
    settings = load_settings(bot_token="1:TEST", secret_key="test-secret", redis_url=url)
    redis = Redis.from_url(url)
    dispatcher = build_dispatcher(
        settings=settings, sessionmaker=sessionmaker, event_log=event_log, redis=redis
    )
    [throttle] = [
        m for m in dispatcher.update.outer_middleware if isinstance(m, ThrottleMiddleware)
    ]
    bot = Bot("1:TEST", session=RecordingSession())
    try:
        for number in range(30):
            sticker = update(number, "message", {"sticker": STICKER}, user=SUBSCRIBER + 1)
            await dispatcher.feed_update(bot, sticker)
    finally:
        await dispatcher.storage.close()
        await redis.aclose()
    assert throttle.dropped > 0


def test_only_changes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    outage = RedisOutage(logging.getLogger("bot.test"), without="limits are local")
    with caplog.at_level(logging.INFO, logger="bot.test"):
        outage.answered()
        for _ in range(3):
            outage.failed(RedisConnectionError("Error 111 connecting to cache:6379"))
        outage.answered()
        outage.answered()
    assert caplog.messages == [
        "Redis does not answer (ConnectionError): limits are local until it does",
        "Redis answers again: limits are local no more",
    ]
