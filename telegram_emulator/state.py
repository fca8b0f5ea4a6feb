"""Users, their private chats with the bot, and the messages and button presses in them."""

import itertools
import json
from dataclasses import dataclass, field

from telegram_emulator.errors import EmulatorError
from telegram_emulator.files import FileStore
from telegram_emulator.json_types import JSONObject
from telegram_emulator.notifier import Notifier
from telegram_emulator.records import CallbackAnswer, EmulatedUser
from telegram_emulator.sent import SentMessage

CommandsKey = tuple[str, str]
"""(scope as canonical JSON, language_code) under which a command list is stored."""


def commands_key(scope: JSONObject | None, language_code: str | None) -> CommandsKey:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), language_code or ""


@dataclass(slots=True)
class ChatState:
    """A private chat: chat id equals the user id, as in Telegram."""

    user: EmulatedUser
    sent: dict[int, SentMessage] = field(default_factory=dict)
    incoming: dict[int, JSONObject] = field(default_factory=dict)
    reactions: dict[int, list[str]] = field(default_factory=dict)
    last_message_id: int = 0

    @property
    def id(self) -> int:
        return self.user.id

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def has_message(self, message_id: int) -> bool:
        sent = self.sent.get(message_id)
        return message_id in self.incoming or (sent is not None and not sent.deleted)

    def to_json(self) -> JSONObject:
        chat = self.user.to_json()
        for key in ("is_bot", "language_code"):
            chat.pop(key, None)
        chat["type"] = "private"
        return chat


@dataclass(slots=True)
class PendingCallback:
    """A button press the bot may still answer."""

    chat_id: int
    message_id: int
    answered: bool = False


class EmulatorState:
    """Everything the emulated Telegram knows about chats, owned by one `Emulator`."""

    def __init__(self, bot_user: EmulatedUser) -> None:
        self.bot_user = bot_user
        self.chats: dict[int, ChatState] = {}
        self.callbacks: dict[str, PendingCallback] = {}
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.files = FileStore(bot_user.id)
        self.sent_log: list[SentMessage] = []
        self.commands: dict[CommandsKey, list[JSONObject]] = {}
        self.menu_buttons: dict[int | None, JSONObject] = {}  # None: the bot's default
        self.messages_changed = Notifier()
        self._ids = itertools.count(1)

    def add_user(self, user: EmulatedUser) -> ChatState:
        """Register a user and their private chat; an already known user is kept as is."""
        chat = self.chats.get(user.id)
        if chat is None:
            chat = self.chats[user.id] = ChatState(user)
        return chat

    def chat(self, chat_id: int) -> ChatState | None:
        return self.chats.get(chat_id)

    def require_chat(self, user_id: int) -> ChatState:
        chat = self.chats.get(user_id)
        if chat is None:
            raise EmulatorError(f"unknown user {user_id}; call add_user() first")
        return chat

    def record_sent(self, messages: list[SentMessage]) -> None:
        """Deliver messages (one, or an album's) to their chat, all at once."""
        for message in messages:
            self.chats[message.chat_id].sent[message.message_id] = message
        self.sent_log.extend(messages)
        self.messages_changed.notify()

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        chat = self.chats.get(chat_id)
        return list(chat.sent.values()) if chat else []

    def new_callback_id(self) -> str:
        return f"{self.bot_user.id}{next(self._ids):08d}"

    def new_media_group_id(self) -> str:
        """A media_group_id like Telegram's: a long number, as a string."""
        return str(13_000_000_000_000_000 + next(self._ids))
