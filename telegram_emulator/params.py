"""Bot API request parameters, read from a query string, a form, multipart or a JSON body.

Clients such as aiogram send every parameter as a form field: numbers and booleans as text,
objects and arrays (reply_markup, entities, allowed_updates...) as JSON strings. `Params`
decodes the fields it knows so every handler and every recorded request sees typed values.
"""

import io
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from telegram_emulator import arrivals
from telegram_emulator.errors import bad_request, entity_too_large
from telegram_emulator.json_types import JSON, JSONList, JSONObject

INT_FIELDS = frozenset(
    {
        "cache_time",
        "chat_id",
        "duration",
        "from_chat_id",
        "height",
        "limit",
        "max_connections",
        "message_id",
        "message_thread_id",
        "offset",
        "reply_to_message_id",
        "timeout",
        "user_id",
        "width",
    }
)
BOOL_FIELDS = frozenset(
    {
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "has_spoiler",
        "is_big",
        "protect_content",
        "show_alert",
        "show_caption_above_media",
        "supports_streaming",
    }
)
JSON_FIELDS = frozenset(
    {
        "allowed_updates",
        "caption_entities",
        "commands",
        "entities",
        "link_preview_options",
        "media",
        "menu_button",
        "reaction",
        "reply_markup",
        "reply_parameters",
        "scope",
    }
)
ATTACH_PREFIX = "attach://"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
"""Largest file a bot may upload (the Bot API's "50 MB for other files"; photos: 10 MB)."""


@dataclass(frozen=True, slots=True)
class Upload:
    """A file uploaded with multipart/form-data."""

    filename: str
    content: bytes


def _decode(name: str, value: JSON) -> JSON:
    """Turn a form field's text into the value Telegram would read from it."""
    if not isinstance(value, str):
        return value
    if name in JSON_FIELDS:
        try:
            decoded: JSON = json.loads(value)
        except ValueError:
            return value
        return decoded
    if name in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    if name in BOOL_FIELDS and value.lower() in {"true", "false", "1", "0"}:
        return value.lower() in {"true", "1"}
    return value


class Params:
    """Typed access to one request's parameters, raising Telegram's 400 answers on bad input.

    `received_at` (time.monotonic) is when the request reached the emulator (now, unless
    told): the one moment its flood limits judge it by and it is recorded at
    (`RecordedRequest.at`)."""

    def __init__(
        self,
        values: Mapping[str, JSON],
        uploads: Mapping[str, Upload] | None = None,
        *,
        received_at: float | None = None,
    ):
        self._values = {name: _decode(name, value) for name, value in values.items()}
        self._uploads = dict(uploads or {})
        self.received_at = time.monotonic() if received_at is None else received_at

    def __contains__(self, name: str) -> bool:
        return name in self._values or name in self._uploads

    def get(self, name: str) -> JSON:
        return self._values.get(name)

    def optional_str(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise bad_request(f'field "{name}" must be of type String')

    def optional_int(self, name: str) -> int | None:
        value = self._values.get(name)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise bad_request(f'field "{name}" must be of type Integer')

    def require_int(self, name: str) -> int:
        value = self.optional_int(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def flag(self, name: str) -> bool:
        value = self._values.get(name)
        if value is None or isinstance(value, bool):
            return bool(value)
        raise bad_request(f'field "{name}" must be of type Boolean')

    def optional_object(self, name: str) -> JSONObject | None:
        value = self._values.get(name)
        if value is None or isinstance(value, dict):
            return value
        raise bad_request(f"can't parse {name} JSON object")

    def optional_list(self, name: str) -> JSONList | None:
        value = self._values.get(name)
        if value is None or isinstance(value, list):
            return value
        raise bad_request(f"can't parse {name} JSON array")

    def upload(self, name: str) -> Upload | None:
        """The file sent for `name`: directly as a file field or as an `attach://` reference."""
        value = self._values.get(name)
        if isinstance(value, str) and value.startswith(ATTACH_PREFIX):
            return self.attached(value)
        return self._uploads.get(name)

    def attached(self, reference: str) -> Upload | None:
        """The file an `attach://name` reference names (None for any other string)."""
        if not reference.startswith(ATTACH_PREFIX):
            return None
        return self._uploads.get(reference.removeprefix(ATTACH_PREFIX))

    def to_record(self) -> JSONObject:
        """The parameters as recorded: typed values, uploads summarised by name and size."""
        record: JSONObject = dict(self._values)
        for name, upload in self._uploads.items():
            record[name] = {"filename": upload.filename, "size": len(upload.content)}
        return record


async def read_params(request: web.Request) -> Params:
    """Collect parameters the way the Bot API does: query string plus form or JSON body."""
    values: dict[str, JSON] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise bad_request("can't parse JSON body") from exc
        if not isinstance(body, dict):
            raise bad_request("JSON body must be an object")
        values.update(body)
    elif request.body_exists:
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge as exc:
            raise entity_too_large() from exc
        for name, value in form.items():
            if isinstance(value, web.FileField):
                uploads[name] = _read_upload(value)
            else:
                values[name] = value if isinstance(value, str) else bytes(value).decode()
    return Params(values, uploads, received_at=arrivals.received_at(request))


def _read_upload(field: web.FileField) -> Upload:
    """A form's file, refused as Telegram's front refuses one over 50 MB (before reading)."""
    size = field.file.seek(0, io.SEEK_END)
    if size > MAX_UPLOAD_BYTES:
        raise entity_too_large()
    field.file.seek(0)
    return Upload(filename=field.filename, content=field.file.read())


MethodHandler = Callable[[Params], Awaitable[JSON]]
"""A Bot API method: takes the request's parameters, returns `result` or raises `ApiError`."""
