"""What the bot sent, as tests read it: each message, its file, and the sends they formed.

A `SentMessage` keeps the request as the bot made it (method, text or caption with its
markup, buttons, link-preview options, protect_content, effect) and what the user sees
(`formatted`: markup parsed into entities). `SentMedia` says which file a message carries
and how the bot gave it (`source`: an upload, a URL or a file_id), so a test can see a
file uploaded once and then sent by file_id. A `Send` is one accepted send request: one
message, or every message of an album (`sendMediaGroup` delivers 2-10 messages sharing a
`media_group_id`, and counts as one send, as it is one request).
"""

from dataclasses import dataclass, field

from telegram_emulator.files import MediaKind, MediaSource, StoredFile
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.text_entities import FormattedText


@dataclass(frozen=True, slots=True)
class SentMedia:
    """The file of a message: its kind (`photo`, `video`...), how the bot gave it, the file
    Telegram holds (`file_id` to send it again) and what the bot said about it."""

    kind: MediaKind
    source: MediaSource
    file: StoredFile
    has_spoiler: bool = False
    attributes: JSONObject = field(default_factory=dict)

    @property
    def file_id(self) -> str:
        """The id the bot got for this file, to send it again with (a photo's: the id of its
        largest size, the one bots reuse)."""
        if self.file.kind is MediaKind.PHOTO:
            return self.file.photo_size_ids()[-1][0]
        return self.file.file_id

    @property
    def file_unique_id(self) -> str:
        if self.file.kind is MediaKind.PHOTO:
            return self.file.photo_size_ids()[-1][1]
        return self.file.file_unique_id

    @property
    def uploaded(self) -> bool:
        return self.source is MediaSource.UPLOAD

    def to_json(self) -> JSONObject:
        stored = self.file
        return {
            "kind": self.kind.value,
            "source": self.source.value,
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "url": stored.url,
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_size": stored.size,
            "has_spoiler": self.has_spoiler,
            **self.attributes,
        }


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
    method: str = "sendMessage"
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    media: SentMedia | None = None
    media_group_id: str | None = None
    show_caption_above_media: bool = False
    reply_markup: JSONObject | None = None
    link_preview_options: JSONObject | None = None
    protect_content: bool = False
    message_effect_id: str | None = None
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

    @property
    def entities(self) -> list[JSONObject]:
        """The text's or caption's entities as the user's app gets them (UTF-16 offsets)."""
        return self.formatted.entities

    @property
    def photo(self) -> str | None:
        """The file_id of the photo, if the message is one."""
        return self._file_id_of(MediaKind.PHOTO)

    @property
    def document(self) -> str | None:
        """The file_id of the document, if the message is one."""
        return self._file_id_of(MediaKind.DOCUMENT)

    @property
    def photo_source(self) -> str | None:
        """What the bot gave for a photo: `upload:NAME`, the URL, or the file_id."""
        media = self.media
        if media is None or media.kind is not MediaKind.PHOTO:
            return None
        if media.source is MediaSource.UPLOAD:
            return f"upload:{self.file_name}"
        return media.file.url if media.source is MediaSource.URL else media.file_id

    @property
    def file_name(self) -> str | None:
        """The uploaded file's name (a photo's too, though Telegram does not show it)."""
        media = self.media
        return media.file.file_name if media is not None and media.uploaded else None

    @property
    def file_content(self) -> bytes | None:
        """The bytes of the file, if it was uploaded (now or by an earlier message)."""
        return None if self.media is None else self.media.file.content

    def _file_id_of(self, kind: MediaKind) -> str | None:
        media = self.media
        return media.file_id if media is not None and media.kind is kind else None

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
        entities: list[JSON] = list(self.entities)
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "date": self.date,
            "sent_at": self.sent_at,
            "method": self.method,
            "text": self.text,
            "caption": self.caption,
            "plain_text": self.plain_text,
            "entities": entities,
            "parse_mode": self.parse_mode,
            "photo": self.photo,
            "document": self.document,
            "file_name": self.file_name,
            "media": None if self.media is None else self.media.to_json(),
            "media_group_id": self.media_group_id,
            "show_caption_above_media": self.show_caption_above_media,
            "reply_markup": self.reply_markup,
            "link_preview_options": self.link_preview_options,
            "protect_content": self.protect_content,
            "message_effect_id": self.message_effect_id,
            "edited": self.edited,
            "edit_count": len(self.history),
            "deleted": self.deleted,
        }


@dataclass(frozen=True, slots=True)
class Send:
    """One accepted send request as the chat shows it: one message, or an album's."""

    messages: tuple[SentMessage, ...]

    @property
    def method(self) -> str:
        return self.messages[0].method

    @property
    def media_group_id(self) -> str | None:
        return self.messages[0].media_group_id

    @property
    def is_album(self) -> bool:
        return self.media_group_id is not None

    @property
    def message_ids(self) -> list[int]:
        return [message.message_id for message in self.messages]

    def to_json(self) -> JSONObject:
        message_ids: list[JSON] = list(self.message_ids)
        messages: list[JSON] = [message.to_json() for message in self.messages]
        return {
            "method": self.method,
            "media_group_id": self.media_group_id,
            "message_ids": message_ids,
            "messages": messages,
        }


def group_sends(messages: list[SentMessage]) -> list[Send]:
    """The sends `messages` (one chat's, in order) came in: an album's messages together."""
    sends: list[list[SentMessage]] = []
    for message in messages:
        group = message.media_group_id
        if group is not None and sends and sends[-1][-1].media_group_id == group:
            sends[-1].append(message)
        else:
            sends.append([message])
    return [Send(tuple(send)) for send in sends]
