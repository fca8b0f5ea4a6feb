"""A burst of /start keeps every subscriber: 1,000 distinct users' `/start` fed through the
real Dispatcher, middlewares and routers as fast as it takes them, with the event log's
batched writer running beside them as in `segbot run`. Every subscriber is stored and no
handler fails, on SQLite as on PostgreSQL.

The issue this guards (SQLite lost 66 of 1,500 at a fast burst with `database is locked`)
showed on a loaded machine: run this with both cores busy to reproduce that setting, e.g.
`for i in 1 2; do timeout 300 python3 -c 'while True: pass' & done`. The assertions hold
whatever the load; nothing here measures time.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import build_dispatcher
from core.events import EventLog
from core.models import Event, EventType, Subscriber
from core.settings import load_settings
from tests.bot.test_write_conflicts import WELCOME, RecordingSession

USERS = 1_000
FIRST_USER = 7_000_000
NOW = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


def start_from(user_id: int) -> Update:
    return Update.model_validate(
        {
            "update_id": user_id,
            "message": {
                "message_id": 1,
                "date": NOW,
                "chat": {"id": user_id, "type": "private", "first_name": "U"},
                "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "en"},
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
    )


@pytest.fixture
async def bot_and_dispatcher(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[tuple[Bot, Dispatcher, EventLog]]:
    """A Bot whose API accepts every call (keeping the texts sent) and the real Dispatcher."""
    settings = load_settings(bot_token="1:TEST", secret_key="test-secret")
    event_log = EventLog(sessionmaker)
    event_log.start()  # the batched writer competes for the database, as in `segbot run`
    dispatcher = build_dispatcher(settings=settings, sessionmaker=sessionmaker, event_log=event_log)
    yield Bot("1:TEST", session=RecordingSession()), dispatcher, event_log
    await event_log.close()


async def test_a_burst_of_starts_stores_every_subscriber(
    bot_and_dispatcher: tuple[Bot, Dispatcher, EventLog],
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot, dispatcher, event_log = bot_and_dispatcher
    users = range(FIRST_USER, FIRST_USER + USERS)
    with caplog.at_level(logging.ERROR):
        # All at once, as long polling hands them over when 1,000 are pending: it starts a
        # task per update without waiting for the ones before.
        await asyncio.gather(*(dispatcher.feed_update(bot, start_from(user)) for user in users))
        await event_log.close()

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == [], [f"{record.name}: {record.getMessage()}" for record in errors[:5]]
    assert isinstance(bot.session, RecordingSession)
    assert bot.session.sent.count(WELCOME) == USERS  # each welcomed once, nobody apologised to
    assert not [text for text in bot.session.sent if text.startswith("Sorry")]
    async with sessionmaker() as session:
        stored = await session.scalar(select(func.count()).select_from(Subscriber))
        subscribed = await session.scalar(
            select(func.count()).select_from(Event).where(Event.type == EventType.SUBSCRIBED)
        )
    assert (stored, subscribed) == (USERS, USERS)
