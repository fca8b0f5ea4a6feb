"""`broadcasts.messenger.Messenger` for Telegram, with aiogram.

The Bot given here should have its own session without `RetryAfterMiddleware`: the sender
answers a 429 itself (pausing every send, not just this one), and a separate connection
pool keeps a broadcast from queueing in front of the bot's replies.
"""

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiohttp import ClientConnectorError

from broadcasts.messenger import (
    Blocked,
    Button,
    ChatNotFound,
    Outcome,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    Sent,
    TransientError,
    Unknown,
)
from core.errors import ConfigError
from core.settings import Settings


def build_broadcast_bot(settings: Settings) -> Bot:
    """The Bot broadcasts go through: its own connections, and no automatic 429 retry."""
    if settings.bot_token is None:
        raise ConfigError("SEGBOT_BOT_TOKEN must be set to send broadcasts")
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base))
    return Bot(token=settings.bot_token.get_secret_value(), session=session)


class TelegramMessenger:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, message: OutgoingMessage) -> Outcome:
        try:
            sent = await self._send(message)
        except TelegramRetryAfter as flood:
            return RetryAfter(float(flood.retry_after))
        except TelegramForbiddenError as forbidden:
            return Blocked(deactivated="deactivated" in forbidden.message)
        except TelegramBadRequest as bad:
            if "chat not found" in bad.message.lower():
                return ChatNotFound()
            return Rejected(bad.message)
        except TelegramServerError as server:
            return TransientError(server.message)
        except TelegramNetworkError as network:
            # Only a connection that never opened proves the request was not sent.
            if isinstance(network.__cause__, ClientConnectorError):
                return TransientError(network.message)
            return Unknown(network.message)
        return Sent(sent.message_id)

    async def _send(self, message: OutgoingMessage) -> Message:
        markup = _keyboard(message.buttons)
        if message.photo is not None:
            return await self._bot.send_photo(
                message.chat_id,
                message.photo,
                caption=message.text or None,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                allow_paid_broadcast=message.paid or None,
            )
        return await self._bot.send_message(
            message.chat_id,
            message.text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            allow_paid_broadcast=message.paid or None,
        )


def _keyboard(buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    rows = [
        [InlineKeyboardButton(text=button.text, url=button.url, callback_data=button.data)]
        for button in buttons
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)
