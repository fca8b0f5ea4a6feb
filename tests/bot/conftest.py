"""The event log the bot's middlewares write to, started and closed around a test."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import EventLog


@pytest.fixture
async def event_log(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[EventLog]:
    log = EventLog(sessionmaker)
    log.start()
    yield log
    await log.close()
