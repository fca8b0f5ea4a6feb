"""JSON objects Telegram puts in updates (the bot's own messages: `message_objects`)."""

import re
import time

from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.records import EmulatedUser
from telegram_emulator.state import ChatState
from telegram_emulator.text_entities import utf16_length

_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")


def unix_now() -> int:
    return int(time.time())


def chat_instance(chat_id: int) -> str:
    """A stable opaque id for "this chat as seen from this bot" (callback queries carry it)."""
    return str((chat_id * 2_654_435_761 + 97) % 10**19)


def command_entities(text: str) -> list[JSON]:
    """bot_command entities for every /command in a user's text, UTF-16 offsets."""
    return [
        {
            "type": "bot_command",
            "offset": utf16_length(text[: match.start()]),
            "length": utf16_length(match[0]),
        }
        for match in _COMMAND.finditer(text)
    ]


def user_message(
    chat: ChatState, message_id: int, content: JSONObject, *, date: int | None = None
) -> JSONObject:
    """A message written by the chat's user."""
    return {
        "message_id": message_id,
        "from": chat.user.to_json(),
        "chat": chat.to_json(),
        "date": unix_now() if date is None else date,
        **content,
    }


def text_content(text: str) -> JSONObject:
    content: JSONObject = {"text": text}
    if entities := command_entities(text):
        content["entities"] = entities
    return content


def callback_query(query_id: str, user: EmulatedUser, message: JSONObject, data: str) -> JSONObject:
    chat = message["chat"]
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    return {
        "id": query_id,
        "from": user.to_json(),
        "message": message,
        "chat_instance": chat_instance(chat_id if isinstance(chat_id, int) else user.id),
        "data": data,
    }


def my_chat_member(
    chat: ChatState, bot_user: EmulatedUser, *, old_status: str, new_status: str
) -> JSONObject:
    """The bot's membership change in a private chat (the user blocked or unblocked it)."""

    def member(status: str) -> JSONObject:
        result: JSONObject = {"status": status, "user": bot_user.to_json()}
        if status == "kicked":
            result["until_date"] = 0
        return result

    return {
        "chat": chat.to_json(),
        "from": chat.user.to_json(),
        "date": unix_now(),
        "old_chat_member": member(old_status),
        "new_chat_member": member(new_status),
    }


def message_reaction(
    chat: ChatState, message_id: int, old: list[str], new: list[str]
) -> JSONObject:
    def reactions(emojis: list[str]) -> list[JSON]:
        return [{"type": "emoji", "emoji": emoji} for emoji in emojis]

    return {
        "chat": chat.to_json(),
        "message_id": message_id,
        "user": chat.user.to_json(),
        "date": unix_now(),
        "old_reaction": reactions(old),
        "new_reaction": reactions(new),
    }
