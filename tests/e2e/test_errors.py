"""A failing handler costs the user an apology, never the bot its life."""

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from aiogram import F, Router
from aiogram.types import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.dispatcher import build_bot, build_dispatcher
from core.errors import SegbotError
from core.events import EventLog
from core.settings import Settings
from telegram_emulator import Emulator

pytestmark = pytest.mark.e2e

USER = 777
SECRET_TEXT = "my card number is 4111"


async def explode(message: Message) -> None:
    raise RuntimeError(f"boom while reading {message.text}")


async def refuse(_message: Message) -> None:
    raise SegbotError("That needs a subscription first.")


@pytest.fixture
async def fragile_bot(
    bot_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[None]:
    """The real dispatcher plus two handlers that fail, one unexpectedly."""
    bot = build_bot(bot_settings)
    event_log = EventLog(sessionmaker)
    dispatcher = build_dispatcher(
        settings=bot_settings, sessionmaker=sessionmaker, event_log=event_log
    )
    failing = Router(name="failing")
    failing.message.register(explode, F.text.startswith("my card"))
    failing.message.register(refuse, F.text == "premium")
    dispatcher.include_router(failing)
    polling = asyncio.create_task(dispatcher.start_polling(bot, handle_signals=False))
    yield
    await dispatcher.stop_polling()
    await polling
    await event_log.close()
    await bot.session.close()


@pytest.mark.usefixtures("fragile_bot")
async def test_an_unexpected_error_is_logged_with_a_reference_and_the_bot_goes_on(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.errors"):
        await emulator.send_text(USER, SECRET_TEXT)
        [apology] = await emulator.wait_for_messages(USER, count=1)
    assert apology.text is not None
    assert apology.text.startswith("Sorry, something went wrong")
    reference = apology.text.rsplit("ref ", 1)[1].rstrip(")")
    [record] = [r for r in caplog.records if r.name == "bot.errors"]
    assert reference in record.getMessage()
    assert SECRET_TEXT not in record.getMessage()  # what users wrote stays out of the logs

    await emulator.send_text(USER, "/start")
    replies = await emulator.wait_for_messages(USER, count=2)
    assert replies[-1].text is not None
    assert replies[-1].text.startswith("Welcome!")


@pytest.mark.usefixtures("fragile_bot")
async def test_a_domain_error_becomes_the_reply(emulator: Emulator) -> None:
    await emulator.send_text(USER, "premium")
    [reply] = await emulator.wait_for_messages(USER, count=1)
    assert reply.text == "That needs a subscription first."
