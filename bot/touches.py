"""What an inbound update says a user did, as a Touch for the event log.

Only what segments need is kept: the kind of message, the command, the button's data,
the reaction. Message text is stored only when configured, and never from commands
(a `/start` payload or an `/email` address is handled by its own handler instead); a
command is logged by its name alone.

Only what a user does in their private chat with the bot is a touch. In a group the bot
was added to, a subscriber's messages and reactions are not replies to the bot: logged,
they would count as replies and reads of broadcasts never opened (and keep group talk).
"""

import re
from datetime import datetime
from typing import Any

from aiogram.types import Chat, Message, ReactionTypeEmoji, Update

from core.events import Touch
from core.models import EventType

MAX_STORED_TEXT = 1000
MAX_CALLBACK_DATA = 64  # Telegram's own limit
# A command's name: a letter, then letters, digits and underscores. Anything else after a
# slash ("/+34600123456", "/4111111111111111") is text, kept only when message texts are.
_COMMAND = re.compile(r"/[A-Za-z][A-Za-z0-9_]{0,31}")


def touch_of(update: Update, now: datetime, *, store_text: bool) -> Touch | None:
    if update.message is not None:
        return _message_touch(update.message, now, store_text=store_text)
    edited = update.edited_message
    if edited is not None and edited.from_user is not None and _private(edited.chat):
        return Touch(edited.from_user.id, EventType.MESSAGE, now, {"kind": "edit"})
    if update.callback_query is not None:
        query = update.callback_query
        payload: dict[str, Any] = {"data": (query.data or "")[:MAX_CALLBACK_DATA]}
        if query.message is not None:
            if not _private(query.message.chat):
                return None
            payload["message_id"] = query.message.message_id
        return Touch(query.from_user.id, EventType.BUTTON, now, payload)
    reaction = update.message_reaction
    # A reaction taken back (none left) is no reaction: journeys and `reacted` count these.
    if reaction is None or not reaction.new_reaction:
        return None
    if reaction.user is not None and _private(reaction.chat):
        emoji = [
            kind.emoji for kind in reaction.new_reaction if isinstance(kind, ReactionTypeEmoji)
        ]
        payload = {"message_id": reaction.message_id, "emoji": emoji}
        return Touch(reaction.user.id, EventType.REACTION, now, payload)
    return None


def _message_touch(message: Message, now: datetime, *, store_text: bool) -> Touch | None:
    if message.from_user is None or message.from_user.is_bot or not _private(message.chat):
        return None
    user_id = message.from_user.id
    said = message.text or message.caption or ""  # a caption holds a command as text does
    command = said.split(maxsplit=1)[0].split("@", 1)[0] if said.startswith("/") else ""
    if _COMMAND.fullmatch(command):
        return Touch(user_id, EventType.COMMAND, now, {"command": command})
    payload: dict[str, Any] = {"kind": str(message.content_type)}
    if message.forward_origin is not None:
        payload["forwarded"] = True
    if message.reply_to_message is not None:
        payload["reply_to"] = message.reply_to_message.message_id
    if store_text and message.text is not None:
        payload["text"] = message.text[:MAX_STORED_TEXT]
    return Touch(user_id, EventType.MESSAGE, now, payload)


def _private(chat: Chat) -> bool:
    """A user's private chat with the bot (not a group, supergroup or channel)."""
    return chat.type == "private"
