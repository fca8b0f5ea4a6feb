"""What the emulator remembers and shows to tests: users, sent messages, requests, answers."""

from dataclasses import dataclass, field
from datetime import datetime

from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.text_entities import FormattedText


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
class MessageVersion:
    """The content a message had before an edit."""

    text: str | None
    caption: str | None
    parse_mode: str | None
    reply_markup: JSONObject | None
    replaced_at: float


@dataclass(slots=True)
class SentMessage:
    """A message the bot sent to a chat. `text`/`caption` are as the bot sent them (with
    markup); `formatted` is what the user sees (markup parsed into entities)."""

    message_id: int
    chat_id: int
    date: int
    sent_at: float
    formatted: FormattedText
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    photo: str | None = None
    photo_source: str | None = None
    document: str | None = None  # file_id of a document (sendDocument)
    file_name: str | None = None  # an uploaded photo's or document's file name
    file_content: bytes | None = None  # what was uploaded, for tests and demos to look at
    reply_markup: JSONObject | None = None
    link_preview_options: JSONObject | None = None
    edit_date: int | None = None
    history: list[MessageVersion] = field(default_factory=list)
    deleted: bool = False

    @property
    def edited(self) -> bool:
        return bool(self.history)

    @property
    def plain_text(self) -> str:
        """The text or caption as displayed, without markup."""
        return self.formatted.text

    def callback_data(self) -> list[str]:
        """The callback_data of every inline button, row by row."""
        return [data for _text, data in self.callback_buttons()]

    def callback_buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline callback button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard")
        if not isinstance(rows, list):
            return []
        buttons = [button for row in rows if isinstance(row, list) for button in row]
        return [
            (text, data)
            for button in buttons
            if isinstance(button, dict)
            and isinstance(text := button.get("text"), str)
            and isinstance(data := button.get("callback_data"), str)
        ]

    def snapshot(self, now: float) -> MessageVersion:
        return MessageVersion(self.text, self.caption, self.parse_mode, self.reply_markup, now)

    def to_json(self) -> JSONObject:
        """A summary for the HTTP control API (not the Bot API `Message` shape)."""
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "date": self.date,
            "sent_at": self.sent_at,
            "text": self.text,
            "caption": self.caption,
            "plain_text": self.plain_text,
            "parse_mode": self.parse_mode,
            "photo": self.photo,
            "document": self.document,
            "file_name": self.file_name,
            "reply_markup": self.reply_markup,
            "edited": self.edited,
            "edit_count": len(self.history),
            "deleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One Bot API call the bot made and how the emulator answered it.

    `at` (time.monotonic) is when the emulator read the call; an accepted send (`ok`) took
    its place in the flood limits' one-second window at exactly that moment."""

    method: str
    params: JSONObject
    at: float
    wall_time: datetime
    status: int
    ok: bool
    description: str | None = None

    def to_json(self) -> JSONObject:
        return {
            "method": self.method,
            "params": self.params,
            "at": self.at,
            "wall_time": self.wall_time.isoformat(),
            "status": self.status,
            "ok": self.ok,
            "description": self.description,
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
