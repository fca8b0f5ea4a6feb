"""The real bot, started the way `segbot run` starts it, against the Bot API emulator."""

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from core.settings import Settings, load_settings
from telegram_emulator import Emulator
from tests.cli.conftest import runner  # noqa: F401  (the CLI tests' runner, for `segbot export`)
from tests.stopping import stop

BOT_TOKEN = "123456:TEST-TOKEN"
SECRET_KEY = "test-secret"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def bot_settings(database_url: str, emulator: Emulator) -> Settings:
    port = free_port()
    return load_settings(
        bot_token=BOT_TOKEN,
        secret_key=SECRET_KEY,
        database_url=database_url,
        telegram_api_base=emulator.base_url,
        web_port=port,
        public_url=f"http://127.0.0.1:{port}",
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
    await stop(task)


# Seconds for an effect that lands just after the bot's reply (an edited keyboard, the event
# log's batched writes, a status change after a member update): tests.polling.until waits.
SETTLES_WITHIN = 5.0
