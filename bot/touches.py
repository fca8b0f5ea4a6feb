"""What an inbound update says a user did, as a Touch for the event log.

Only what segments need is kept: the kind of message, the command, the button's data,
the reaction. Message text is stored only when configured, and never from commands
(a `/start` payload or an `/email` address is handled by its own handler instead).
"""

from datetime import datetime
from typing import Any

from aiogram.types import Message, ReactionTypeEmoji, Update

from core.events import Touch
from core.models import EventType

MAX_STORED_TEXT = 1000
MAX_CALLBACK_DATA = 64  # Telegram's own limit


def touch_of(update: Update, now: datetime, *, store_text: bool) -> Touch | None:
    if update.message is not None:
        return _message_touch(update.message, now, store_text=store_text)
    if update.edited_message is not None and update.edited_message.from_user is not None:
        return Touch(update.edited_message.from_user.id, EventType.MESSAGE, now, {"kind": "edit"})
    if update.callback_query is not None:
        query = update.callback_query
        payload: dict[str, Any] = {"data": (query.data or "")[:MAX_CALLBACK_DATA]}
        if query.message is not None:
            payload["message_id"] = query.message.message_id
        return Touch(query.from_user.id, EventType.BUTTON, now, payload)
    reaction = update.message_reaction
    if reaction is not None and reaction.user is not None:
        emoji = [
            kind.emoji for kind in reaction.new_reaction if isinstance(kind, ReactionTypeEmoji)
        ]
        payload = {"message_id": reaction.message_id, "emoji": emoji}
        return Touch(reaction.user.id, EventType.REACTION, now, payload)
    return None


def _message_touch(message: Message, now: datetime, *, store_text: bool) -> Touch | None:
    if message.from_user is None or message.from_user.is_bot:
        return None
    user_id = message.from_user.id
    if message.text is not None and message.text.startswith("/"):
        command = message.text.split(maxsplit=1)[0].split("@", 1)[0][:32]
        return Touch(user_id, EventType.COMMAND, now, {"command": command})
    payload: dict[str, Any] = {"kind": str(message.content_type)}
    if message.forward_origin is not None:
        payload["forwarded"] = True
    if message.reply_to_message is not None:
        payload["reply_to"] = message.reply_to_message.message_id
    if store_text and message.text is not None:
        payload["text"] = message.text[:MAX_STORED_TEXT]
    return Touch(user_id, EventType.MESSAGE, now, payload)
