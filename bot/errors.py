"""The last line of defence: no update ever takes the bot down.

A SegbotError is an expected problem and its message is the reply (one a subscriber can
meet, NotSubscribedError, in their language). Anything else is logged at ERROR with the
update id and a short reference id (no message text and no SQL parameters: they may hold
personal data), and the user gets an apology in their language quoting that id so an
operator can find the log line. An update that lost out to concurrent work on the
database gets here only once `bot.middlewares.DbSessionMiddleware`'s retries are spent (or
it had already replied), and its log line says "on a busy database".
"""

import logging
import uuid

from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, ErrorEvent, Message
from sqlalchemy.exc import StatementError

from bot.i18n import Texts
from core.db import is_contention
from core.errors import SegbotError
from core.profiles import NotSubscribedError

logger = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, texts: Texts) -> None:
    error = event.exception
    update = event.update
    sender = update.message or update.callback_query
    # Their Telegram app's language: one who has no subscriber has no other.
    t = texts.for_language(sender.from_user.language_code if sender and sender.from_user else None)
    if isinstance(error, NotSubscribedError):
        reply = t("Send /start first.")
    elif isinstance(error, SegbotError):
        reply = str(error)
    else:
        ref = uuid.uuid4().hex[:8]
        if isinstance(error, StatementError):
            error.hide_parameters = True  # the traceback's message would quote them
        logger.error(
            "update %s failed%s (ref %s)",
            event.update.update_id,
            " on a busy database" if is_contention(error) else "",
            ref,
            exc_info=(type(error), error, error.__traceback__),
        )
        reply = t(
            "Sorry, something went wrong on our side. Please try again later. (ref {ref})",
            ref=ref,
        )
    try:
        if update.message is not None:
            await update.message.answer(reply)
        elif update.callback_query is not None:
            await _tell_presser(update.callback_query, reply)
    except TelegramAPIError as reply_error:  # e.g. the user blocked the bot meanwhile
        logger.warning("could not reply to update %s: %s", update.update_id, reply_error)


async def _tell_presser(query: CallbackQuery, reply: str) -> None:
    """As an alert on the press, or in the chat when the press was answered already (a
    handler answers it first, then fails) or is too old to answer."""
    try:
        await query.answer(reply[:200], show_alert=True)
    except TelegramBadRequest:
        if not isinstance(query.message, Message):
            raise
        await query.message.answer(reply)
