"""The real bot, started the way `segbot run` starts it, against the Bot API emulator."""

import asyncio
import gc
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from core.settings import Settings, load_settings
from telegram_emulator import Emulator
from tests.cli.conftest import runner  # noqa: F401  (the CLI tests' runner, for `segbot export`)
from tests.ports import free_port
from tests.stopping import stop

BOT_TOKEN = "123456:TEST-TOKEN"
SECRET_KEY = "test-secret"


@pytest.fixture(autouse=True)
def frozen_heap() -> Iterator[None]:
    """The test run's heap kept out of full collections while the bot runs here, as `segbot
    run` keeps what it holds at start (bot.runtime.freeze_startup_heap): the pytest
    process holds far more than a bot, and its full collections, 300-420 ms each under
    load, would stall the bot as no deployment is stalled. Thawed after the test."""
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        yield emulator


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


SEGBOT = str(Path(sys.executable).parent / "segbot")


async def segbot_run(
    emulator: Emulator, database_url: str, *, token: str, stderr: int
) -> asyncio.subprocess.Process:
    """`segbot run` in a process of its own, as an operator starts it, against the
    emulator; its stdout piped, its stderr as `stderr` says (PIPE, or STDOUT)."""
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": token,
        "SEGBOT_SECRET_KEY": "test-secret",
        "SEGBOT_DATABASE_URL": database_url,
        "SEGBOT_TELEGRAM_API_BASE": emulator.base_url,
        "SEGBOT_WEB_PORT": "0",
    }
    return await asyncio.create_subprocess_exec(
        SEGBOT, "run", env=environment, stdout=asyncio.subprocess.PIPE, stderr=stderr
    )


# Seconds for an effect that lands just after the bot's reply (an edited keyboard, the event
# log's batched writes, a status change after a member update): tests.polling.until waits.
SETTLES_WITHIN = 5.0
