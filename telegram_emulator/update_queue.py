"""Pending updates with Telegram's offset confirmation and allowed_updates filtering."""

import itertools
from collections import deque
from dataclasses import dataclass

from telegram_emulator.errors import EmulatorError
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.notifier import Notifier

ALL_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
OPT_IN_UPDATE_TYPES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - OPT_IN_UPDATE_TYPES
FIRST_UPDATE_ID = 100_000_001


@dataclass(frozen=True, slots=True)
class Update:
    """An update as the bot receives it: its id and the rest of its fields (normally one:
    its type's key and object; anything at all for an injected raw update)."""

    update_id: int
    fields: JSONObject

    def to_json(self) -> JSONObject:
        return {"update_id": self.update_id, **self.fields}


class UpdateQueue:
    """Updates waiting for the bot, in order, until an offset (or a webhook) confirms them.

    Like Telegram, the allowed_updates filter applies when an update is created, and a
    filter given once is remembered until another is given.
    """

    def __init__(self) -> None:
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.changed = Notifier()
        self.closed = False
        self._pending: deque[Update] = deque()
        self._ids = itertools.count(FIRST_UPDATE_ID)

    def push(self, update_type: str, payload: JSONObject) -> Update | None:
        """Queue an update; `None` if the bot's allowed_updates filter drops it."""
        if update_type not in self.allowed_updates:
            return None
        return self.push_raw({update_type: payload})

    def push_raw(self, fields: JSONObject) -> Update:
        """Queue `fields` as they are under the next update_id, whatever allowed_updates says:
        an update Telegram may send that the bot cannot read (a newer Bot API's, a broken one)."""
        if "update_id" in fields:
            raise EmulatorError("the emulator numbers updates itself: leave update_id out")
        update = Update(next(self._ids), fields)
        self._pending.append(update)
        self.changed.notify()
        return update

    def set_allowed_updates(self, allowed: list[JSON] | None) -> None:
        """None keeps the previous filter; an empty list restores the default."""
        if allowed is None:
            return
        chosen = frozenset(item for item in allowed if isinstance(item, str))
        self.allowed_updates = chosen & ALL_UPDATE_TYPES or DEFAULT_UPDATE_TYPES

    def confirm(self, offset: int) -> None:
        """getUpdates offset: forget updates below it; negative keeps only the last -offset."""
        pending = self._pending
        if offset < 0:
            while len(pending) > -offset:
                pending.popleft()
        else:
            while pending and pending[0].update_id < offset:
                pending.popleft()
        self.changed.notify()

    def pending(self) -> list[Update]:
        return list(self._pending)

    def first(self) -> Update | None:
        return self._pending[0] if self._pending else None

    def has_pending(self) -> bool:
        return bool(self._pending)

    def drop_pending(self) -> None:
        self._pending.clear()
        self.changed.notify()

    def close(self) -> None:
        """Release every waiting long poll (the emulator is shutting down)."""
        self.closed = True
        self.changed.notify()
