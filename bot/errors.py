"""The last line of defence: no update ever takes the bot down.

A SegbotError is an expected problem and its message is the reply. Anything else is
logged at ERROR with the update id and a short reference id (no message text and no SQL
parameters: they may hold personal data), and the user gets an apology quoting that id so
an operator can find the log line. An update that lost out to concurrent work on the
database gets here only once `bot.middlewares.DbSessionMiddleware`'s retries are spent (or
it had already replied), and its log line says "on a busy database".
"""

import logging
import uuid

from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import CallbackQuery, ErrorEvent, Message
from sqlalchemy.exc import StatementError

from core.db import is_contention
from core.errors import SegbotError

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. Please try again later. (ref {ref})"


async def on_error(event: ErrorEvent) -> None:
    error = event.exception
    if isinstance(error, SegbotError):
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
        reply = APOLOGY.format(ref=ref)
    update = event.update
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
