"""The real bot, started the way `segbot run` starts it, against the Bot API emulator."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from bot.emulator import Emulator
from core.settings import Settings, load_settings

BOT_TOKEN = "123456:TEST-TOKEN"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator


@pytest.fixture
def bot_settings(database_url: str, emulator: Emulator) -> Settings:
    return load_settings(
        bot_token=BOT_TOKEN,
        secret_key="test-secret",
        database_url=database_url,
        telegram_api_base=emulator.base_url,
        web_port=0,
    )


@pytest.fixture
async def running_bot(
    bot_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """`segbot run` in this process; stopped (and any failure of its own raised) after."""
    task = asyncio.create_task(runtime.run(bot_settings, handle_signals=False))
    yield
    if task.done():
        task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
