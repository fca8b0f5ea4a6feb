"""The last line of defence: no update ever takes the bot down.

A SegbotError is an expected problem and its message is the reply. Anything else is
logged with a short reference id (no message text: it may hold personal data), and the
user gets an apology quoting that id so an operator can find the log line.
"""

import logging
import uuid

from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from core.errors import SegbotError

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, something went wrong on our side. Please try again later. (ref {ref})"


async def on_error(event: ErrorEvent) -> None:
    error = event.exception
    if isinstance(error, SegbotError):
        reply = str(error)
    else:
        ref = uuid.uuid4().hex[:8]
        logger.error(
            "update %s failed (ref %s)",
            event.update.update_id,
            ref,
            exc_info=(type(error), error, error.__traceback__),
        )
        reply = APOLOGY.format(ref=ref)
    update = event.update
    try:
        if update.message is not None:
            await update.message.answer(reply)
        elif update.callback_query is not None:
            await update.callback_query.answer(reply[:200], show_alert=True)
    except TelegramAPIError as reply_error:  # e.g. the user blocked the bot meanwhile
        logger.warning("could not reply to update %s: %s", update.update_id, reply_error)
