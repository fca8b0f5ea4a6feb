"""Edits and deletions of the bot's own messages that a repeated button press makes twice.

A subscriber who double-presses a button sends two updates carrying the same message, and
both are handled. Telegram refuses the second edit ("message is not modified": it would
change nothing) and the second deletion ("message to delete not found"). Neither is an
error: the first press did the work. These helpers say whether this call changed the
message, so that a handler does the rest of the work (the next question, a farewell) once;
any other refusal is raised as usual.
"""

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import InlineKeyboardMarkup, Message

NOT_MODIFIED = "message is not modified"
ALREADY_DELETED = "message to delete not found"


async def edit_text(message: Message, text: str) -> bool:
    """Replace the message's text (and drop its inline keyboard); False if it already was."""
    try:
        await message.edit_text(text)
    except TelegramBadRequest as refusal:
        return _unless(refusal, NOT_MODIFIED)
    return True


async def edit_keyboard(message: Message, keyboard: InlineKeyboardMarkup | None) -> bool:
    """Replace (None: remove) the message's inline keyboard; False if it already was."""
    try:
        await message.edit_reply_markup(reply_markup=keyboard)
    except TelegramBadRequest as refusal:
        return _unless(refusal, NOT_MODIFIED)
    return True


async def delete(message: Message) -> bool:
    """Delete the message; False if it was already gone."""
    try:
        await message.delete()
    except TelegramBadRequest as refusal:
        return _unless(refusal, ALREADY_DELETED)
    return True


def _unless(refusal: TelegramBadRequest, repeated: str) -> bool:
    """False when Telegram refused only because the change was made already; else raise."""
    if repeated not in refusal.message.lower():
        raise refusal
    return False
