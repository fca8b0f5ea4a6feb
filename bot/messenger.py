"""`broadcasts.messenger.Messenger` for Telegram: one POST to the Bot API per message (the
request is built by bot.telegram_requests): JSON, or multipart when it uploads a file.

Broadcasts bypass aiogram on purpose. The sender needs only the message id back, and
aiogram's per-call work (a multipart form built for every request, the whole `Message`
answer validated into models) cost half the sender's throughput; a plain JSON request
lets one core send well above Telegram's 1000 messages/s paid ceiling. The bot's own
replies still go through aiogram, on another connection pool, so a broadcast never
queues in front of them; and the sender answers a 429 itself (pausing every send, not
just this one), so nothing here retries.

Each request has SEGBOT_SEND_TIMEOUT (`timeout`): unanswered by then, it is `Unknown` (it
went out, so it may have arrived), unless its connection never opened (`TransientError`).
The connection pool holds `broadcasts.sender.MAX_IN_FLIGHT` connections, the most
requests the sender has on their way at once, so a request never waits for a connection
(it would leave after its send slot, bunched with later ones), and connections are kept
and reused rather than opened for each burst. The caller's `on_written` hears when a
request leaves: a JSON body calls it once aiohttp has handed its bytes to the connection
(the headers go with them, in the same step), never before, so that a process paused
between the two on a busy machine cannot count a send from earlier than it went; an
upload, as its form is handed to aiohttp. (aiohttp's request tracing would tell the same
for both, at a fifth more CPU per request.)

An upload has UPLOAD_TIMEOUT_SECONDS (a 50 MB file takes a while); its file is read when
it is sent and must still be what was checked (its SHA-256), else it is not sent
(`Rejected`). broadcasts.uploads makes sure a file goes up once.

The bot token is part of every request URL: it is never logged or put in an outcome.
"""

import asyncio
import hashlib
import json
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import aiohttp

from bot.logs import as_said
from bot.telegram_requests import Request, file_ids, form_value, request
from broadcasts.messenger import (
    Blocked,
    ChatNotFound,
    Outcome,
    OutgoingMessage,
    Rejected,
    RetryAfter,
    Sent,
    TransientError,
    Unknown,
)
from broadcasts.sender import MAX_IN_FLIGHT
from core.errors import ConfigError
from core.settings import Settings

TIMEOUT_SECONDS = 10.0  # SEGBOT_SEND_TIMEOUT's default
UPLOAD_TIMEOUT_SECONDS = 300.0  # a request that uploads a file (at least the send timeout)


class TelegramMessenger:
    """Sends through the Bot API at `api_base` (Telegram, a local Bot API server, or the
    emulator). Use as an async context manager, or call `close()`."""

    def __init__(self, *, api_base: str, token: str, timeout: float = TIMEOUT_SECONDS) -> None:
        self._base = f"{api_base.rstrip('/')}/bot{token}/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        if settings.bot_token is None:
            raise ConfigError("SEGBOT_BOT_TOKEN must be set to send broadcasts")
        return cls(
            api_base=settings.telegram_api_base,
            token=settings.bot_token.get_secret_value(),
            timeout=settings.send_timeout,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def send(
        self, message: OutgoingMessage, *, on_written: Callable[[], None] | None = None
    ) -> Outcome:
        built = request(message)
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        timeout = self._timeout
        params: dict[str, Any] | None = built.params
        data: aiohttp.FormData | _JsonBody | None = None
        if built.uploads:
            form = await _form(built)
            if isinstance(form, Rejected):
                return form
            total = max(UPLOAD_TIMEOUT_SECONDS, self._timeout.total or 0)
            timeout, params, data = aiohttp.ClientTimeout(total=total), None, form
            if on_written is not None:
                on_written()
        elif on_written is not None:
            params, data = None, _JsonBody(built.params, on_written)
        try:
            url = self._base + built.method
            post = self._session.post(url, json=params, data=data, timeout=timeout)
            async with post as response:
                status = response.status
                body = await response.read()
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
            # Only a connection that never opened proves the request was not sent.
            return TransientError(f"cannot connect: {type(error).__name__}")
        except TimeoutError:
            return Unknown(f"timeout: no answer within {timeout.total:g} s")
        except aiohttp.ClientError as error:
            return Unknown(f"no answer: {type(error).__name__}")
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested past what Python reads
            answer = None
        return _outcome(status, answer, media=bool(message.media))


class _JsonBody(aiohttp.BytesPayload):
    """A request's JSON that calls `on_written` once aiohttp has written it."""

    def __init__(self, params: dict[str, Any], on_written: Callable[[], None]) -> None:
        super().__init__(json.dumps(params).encode(), content_type="application/json")
        self._on_written = on_written

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        await super().write_with_length(writer, content_length)
        self._on_written()


async def _form(built: Request) -> aiohttp.FormData | Rejected:
    """The multipart form of a request that uploads files; Rejected if a file is gone or
    is no longer what was checked."""
    form = aiohttp.FormData()
    for name, value in built.params.items():
        form.add_field(name, form_value(value))
    for name, upload in built.uploads.items():
        try:
            content = await asyncio.to_thread(upload.path.read_bytes)
        except OSError as error:
            return Rejected(f"cannot read {upload.path.name}: {error.strerror}")
        if upload.sha256 is not None and hashlib.sha256(content).hexdigest() != upload.sha256:
            return Rejected(
                f"{upload.path.name} has changed since the message was saved: save it again"
            )
        form.add_field(name, content, filename=upload.path.name)
    return form


def _outcome(status: int, answer: object, *, media: bool) -> Outcome:
    """What an answer means (Bot API: `ok`, `result`, `error_code`, `description`,
    `parameters.retry_after`); only a message with `media` has file ids to look for. JSON
    without a boolean `ok` is no Bot API answer (a proxy's, a load balancer's): whether
    the message went is not known, so it is never counted as refused."""
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        if status >= 500:
            return TransientError(f"HTTP {status} without a Bot API answer")
        return Unknown(f"HTTP {status} without a Bot API answer")
    if answer.get("ok") is True:
        result = answer.get("result")
        first = result[0] if isinstance(result, list) and result else result  # an album's
        if isinstance(first, dict) and isinstance(first.get("message_id"), int):
            return Sent(first["message_id"], file_ids(result) if media else ())
        return Unknown("sent, but the answer has no message id")
    code = answer.get("error_code", status)
    description = as_said(answer.get("description"))
    parameters = answer.get("parameters")
    if code == 429:
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        return RetryAfter(_seconds(retry_after, default=1.0))
    if code == 403:
        return Blocked(deactivated="deactivated" in description)
    if isinstance(code, int) and code >= 500:
        return TransientError(description or f"HTTP {code}")
    if code == 400 and any(name in description.lower() for name in _NO_SUCH_CHAT):
        return ChatNotFound()
    migrated = parameters.get("migrate_to_chat_id") if isinstance(parameters, dict) else None
    if isinstance(migrated, int) and not isinstance(migrated, bool):
        description = f"{description or 'the group moved'}: it is now chat {migrated}"
    return Rejected(description or f"HTTP {code}")


# How a 400 says the chat is not one the bot can reach: Telegram's own wording, and the
# MTProto error a Bot API server passes on for a chat id no one ever gave the bot.
_NO_SUCH_CHAT = ("chat not found", "peer_id_invalid")


def _seconds(value: object, *, default: float) -> float:
    """A number of seconds from an answer: `default` unless it is one (finite, not
    negative), so a garbled retry_after can neither stop every send for good nor crash."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    try:
        seconds = float(value)
    except OverflowError:  # an integer past what a float holds
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default
