"""Builders for the JSON objects Telegram puts in updates and method results."""

import re
import time
import zlib

from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.records import EmulatedUser, SentMessage
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


def bot_message(sent: SentMessage, chat: ChatState, bot_user: EmulatedUser) -> JSONObject:
    """The `Message` object Telegram returns for (or later shows of) a message the bot sent."""
    message: JSONObject = {
        "message_id": sent.message_id,
        "from": bot_user.to_json(),
        "chat": chat.to_json(),
        "date": sent.date,
    }
    formatted = sent.formatted
    entities: list[JSON] = list(formatted.entities)
    if sent.photo is not None or sent.document is not None:
        if sent.photo is not None:
            message["photo"] = photo_sizes(sent.photo)
        else:
            message["document"] = document(sent)
        if sent.caption is not None:
            message["caption"] = formatted.text
            if entities:
                message["caption_entities"] = entities
    else:
        message["text"] = formatted.text
        if entities:
            message["entities"] = entities
        if sent.link_preview_options is not None:
            message["link_preview_options"] = sent.link_preview_options
    if sent.edit_date is not None:
        message["edit_date"] = sent.edit_date
    if sent.reply_markup is not None and "inline_keyboard" in sent.reply_markup:
        message["reply_markup"] = sent.reply_markup
    return message


PHOTO_SIZES = ((90, 67, 1_300), (1280, 960, 98_000))
"""(width, height, file_size) of the sizes every photo gets: a thumbnail and the full size."""


def photo_size_file_id(file_id: str, width: int) -> str:
    return f"{file_id}_{width}"


def photo_sizes(file_id: str) -> list[JSON]:
    """The PhotoSize list Telegram returns for a photo."""
    return [
        {
            "file_id": photo_size_file_id(file_id, width),
            "file_unique_id": f"AQAD{zlib.crc32(f'{file_id}:{width}'.encode()):08x}",
            "width": width,
            "height": height,
            "file_size": size,
        }
        for width, height, size in PHOTO_SIZES
    ]


def document(sent: SentMessage) -> JSONObject:
    """The Document object of a file the bot sent."""
    file_id = sent.document or ""
    found: JSONObject = {
        "file_id": file_id,
        "file_unique_id": f"AgAD{zlib.crc32(file_id.encode()):08x}",
        "file_size": len(sent.file_content or b""),
    }
    if sent.file_name is not None:
        found["file_name"] = sent.file_name
    return found


def photo_content(file_id: str, caption: str | None) -> JSONObject:
    """A photo a user sends (sizes as Telegram gives them), with its caption."""
    content: JSONObject = {"photo": photo_sizes(file_id)}
    if caption:
        content["caption"] = caption
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
