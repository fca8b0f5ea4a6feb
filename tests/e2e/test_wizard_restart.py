"""The broadcast wizard survives a bot restart when its state lives in Redis
(SEGBOT_REDIS_URL): an owner half-way through carries on with the new process."""

import asyncio
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from core.settings import SecretUrl, Settings
from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import Chat, no_flood_limits
from tests.polling import until
from tests.stopping import stop

pytestmark = pytest.mark.e2e
REDIS_URL = "redis://127.0.0.1:6379/13"


async def in_a_fresh_process(settings: Settings, chat: Chat, text: str) -> SentMessage:
    """Start the bot, say `text`, take the one reply, stop the bot."""
    polls = len(chat.emulator.requests_for("getUpdates"))

    bot = asyncio.create_task(runtime.run(settings, handle_signals=False))
    try:
        await until(  # a loaded machine may take a while to start
            lambda: bot.done() or len(chat.emulator.requests_for("getUpdates")) > polls,
            within=60,
            what="the bot to poll for updates",
        )
        if bot.done():
            bot.result()  # why it stopped
        (reply,) = await chat.say(text)
        return reply
    finally:
        await stop(bot)


async def test_a_wizard_half_done_carries_on_after_a_restart(
    emulator: Emulator, bot_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    owner = 10**8 + uuid.uuid4().int % 10**8  # a wizard of its own, whatever Redis holds
    settings = bot_settings.model_copy(
        update={"redis_url": SecretUrl(REDIS_URL), "admin_ids": (owner,)}
    )
    emulator.add_user(owner, first_name="Owner")
    chat = Chat(emulator, owner)
    with no_flood_limits(emulator):
        asked = await in_a_fresh_process(settings, chat, "/broadcast")
        answered = await in_a_fresh_process(settings, chat, "autumn_sale")
    assert "name" in asked.plain_text.lower()
    assert "Saved segments" in [text for text, _data in answered.callback_buttons()]
