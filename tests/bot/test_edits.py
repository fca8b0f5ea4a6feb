"""bot.edits: an edit or deletion a repeated button press makes twice is not an error, and
says it changed nothing; any other refusal is still raised."""

from collections.abc import AsyncIterator

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot import edits
from telegram_emulator import Emulator

USER = 4200
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="a")]]
)


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    async with Emulator() as emulator:
        emulator.add_user(USER)
        api = TelegramAPIServer.from_base(emulator.base_url)
        async with Bot("42:EDITS", session=AiohttpSession(api=api)) as bot:
            yield bot


async def test_a_repeated_edit_or_deletion_changes_nothing_and_says_so(bot: Bot) -> None:
    message = await bot.send_message(USER, "question", reply_markup=KEYBOARD)
    assert await edits.edit_keyboard(message, None) is True
    assert await edits.edit_keyboard(message, None) is False
    assert await edits.edit_text(message, "answered") is True
    assert await edits.edit_text(message, "answered") is False
    assert await edits.delete(message) is True
    assert await edits.delete(message) is False


async def test_any_other_refusal_is_raised(bot: Bot) -> None:
    message = await bot.send_message(USER, "question")
    await edits.delete(message)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await edits.edit_text(message, "too late")
