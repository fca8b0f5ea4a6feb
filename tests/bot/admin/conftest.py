"""The chat console these tests drive: the real bot against the emulator, one per test
module (starting it costs seconds), and its owner's chat."""

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from telegram_emulator import Emulator
from tests.bot.admin.console import OWNER, Chat, add_staff, running_console


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def owner(session: AsyncSession, emulator: Emulator) -> Chat:
    await add_staff(session)
    return Chat(emulator, OWNER)
