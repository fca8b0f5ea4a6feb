"""A Telegram Bot API emulator: the real aiogram client talks to it over HTTP.

Used by the test suite and by `segbot demo` to rehearse broadcasts without Telegram. See
`Emulator` for the Python control API, `bot.emulator.control` for the same over HTTP and
`EmulatorClient` to use it from another process (`python -m bot.emulator` runs one alone).
"""

from bot.emulator.client import EmulatorClient
from bot.emulator.emulator import DEFAULT_BOT_ID, Emulator
from bot.emulator.errors import ApiError, EmulatorError
from bot.emulator.json_types import JSON, JSONObject
from bot.emulator.limits import SENDING_METHODS, Limits
from bot.emulator.records import (
    CallbackAnswer,
    EmulatedUser,
    MessageVersion,
    RecordedRequest,
    SentMessage,
)
from bot.emulator.text_entities import FormattedText

__all__ = [
    "DEFAULT_BOT_ID",
    "JSON",
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
    "MessageVersion",
    "RecordedRequest",
    "SentMessage",
]
