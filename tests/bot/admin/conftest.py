"""The chat console these tests drive: the real bot against the emulator, one per test
module (starting it costs seconds), and its owner's chat.

The bot outlives each test, and the rows are deleted after each: a command's audit
entry, written just after its reply, could land after the deletion and in the next
test. So each test ends when the bot has finished every update it was handling."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from telegram_emulator import Emulator
from tests.bot.admin.console import OWNER, WAIT, Chat, add_staff, running_console
from tests.polling import until


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def owner(session: AsyncSession, emulator: Emulator) -> Chat:
    await add_staff(session)
    return Chat(emulator, OWNER)


@pytest.fixture(autouse=True)
async def handled_before_the_rows_go(
    request: pytest.FixtureRequest, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """Torn down before `sessionmaker` deletes the rows (it is set up after it)."""
    yield
    if "emulator" in request.fixturenames:
        await until(_idle, within=WAIT, what="the bot to finish the updates it was handling")


def _idle() -> bool:
    return not any(_handling(task) for task in asyncio.all_tasks())


def _handling(task: asyncio.Task[object]) -> bool:
    """Whether `task` is the bot handling an update (bot.polling.feed)."""
    coroutine = task.get_coro()
    return getattr(coroutine, "__qualname__", "") == "feed" and not task.done()
