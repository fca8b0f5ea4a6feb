"""What the emulator remembers and shows to tests: users, requests, answers (the messages
the bot sent are in `telegram_emulator.sent`)."""

from dataclasses import dataclass
from datetime import datetime

from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.sent import SentMessage


@dataclass(slots=True)
class EmulatedUser:
    """A Telegram user (or the bot itself) as the emulator knows it."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    blocked: bool = False
    deactivated: bool = False

    def to_json(self) -> JSONObject:
        user: JSONObject = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        optional = {
            "last_name": self.last_name,
            "username": self.username,
            "language_code": self.language_code,
        }
        user.update({key: value for key, value in optional.items() if value is not None})
        return user


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One Bot API call the bot made and how the emulator answered it.

    `at` (time.monotonic) is when the call reached the emulator (telegram_emulator/
    arrivals.py); an accepted send (`ok`) took its place in the flood limits' one-second
    window at exactly that moment (an album is one send). Calls are recorded in the order the
    emulator handled them, which on a busy machine may differ a little from their `at`s.
    `message_ids` are the messages an accepted send delivered (an album's, in order).
    Uploads appear in `params` as `{"filename": ..., "size": ...}`."""

    method: str
    params: JSONObject
    at: float
    wall_time: datetime
    status: int
    ok: bool
    description: str | None = None
    message_ids: tuple[int, ...] = ()

    def to_json(self) -> JSONObject:
        message_ids: list[JSON] = list(self.message_ids)
        return {
            "method": self.method,
            "params": self.params,
            "at": self.at,
            "wall_time": self.wall_time.isoformat(),
            "status": self.status,
            "ok": self.ok,
            "description": self.description,
            "message_ids": message_ids,
        }


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """The bot's answerCallbackQuery for one button press."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    at: float

    def to_json(self) -> dict[str, JSON]:
        return {
            "callback_query_id": self.callback_query_id,
            "text": self.text,
            "show_alert": self.show_alert,
            "url": self.url,
            "cache_time": self.cache_time,
        }


def describe_missing_messages(
    chat_id: int,
    count: int,
    timeout: float,
    received: list[SentMessage],
    failed_requests: list[RecordedRequest],
) -> str:
    """Why a wait for messages timed out: what did arrive, and which sends failed."""
    texts = [message.plain_text[:60] for message in received[-3:]]
    failures = [f"{r.method} {r.status} {r.description}" for r in failed_requests[-5:]]
    return (
        f"chat {chat_id} received {len(received)} message(s) within {timeout}s, "
        f"expected at least {count}. Last texts: {texts!r}. "
        f"Failed requests for this chat: {' | '.join(failures) or 'none'}"
    )
