"""A Telegram Bot API emulator: the real aiogram client talks to it over HTTP.

Used by the test suite and by `segbot demo` to rehearse broadcasts without Telegram. See
`Emulator` for the Python control API, `telegram_emulator.control` for the same over HTTP and
`EmulatorClient` to use it from another process (`python -m telegram_emulator` runs one alone).
"""

from telegram_emulator.client import EmulatorClient
from telegram_emulator.emulator import DEFAULT_BOT_ID, Emulator
from telegram_emulator.errors import ApiError, EmulatorError
from telegram_emulator.files import MediaKind, MediaSource, StoredFile
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.limits import SENDING_METHODS, Limits
from telegram_emulator.records import CallbackAnswer, EmulatedUser, RecordedRequest
from telegram_emulator.send_options import MESSAGE_EFFECTS
from telegram_emulator.sent import MessageVersion, Send, SentMedia, SentMessage
from telegram_emulator.text_entities import FormattedText

__all__ = [
    "DEFAULT_BOT_ID",
    "JSON",
    "MESSAGE_EFFECTS",
    "SENDING_METHODS",
    "ApiError",
    "CallbackAnswer",
    "EmulatedUser",
    "Emulator",
    "EmulatorClient",
    "EmulatorError",
    "FormattedText",
    "JSONObject",
    "Limits",
    "MediaKind",
    "MediaSource",
    "MessageVersion",
    "RecordedRequest",
    "Send",
    "SentMedia",
    "SentMessage",
    "StoredFile",
]
