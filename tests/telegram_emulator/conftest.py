"""An emulator with one user, and the real aiogram client pointed at it."""

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from telegram_emulator import Emulator
from tests.telegram_emulator.bot_api import USER


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        emulator.add_user(USER, first_name="Ann", username="ann")
        yield emulator


@pytest.fixture
async def bot(emu: Emulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    bot = Bot(token="42:TEST", session=session)
    yield bot
    await bot.session.close()
