"""Webhook mode: POST each update, in order, to the bot's URL; retry with backoff on failure.

`post_raw` sends any body at all to the same URL, for tests of what the bot does with a
request Telegram would never make.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from telegram_emulator.errors import EmulatorError
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.params import Params, Upload
from telegram_emulator.update_queue import UpdateQueue
from telegram_emulator.updates import unix_now

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, no secret
FIRST_RETRY_DELAY = 0.05
MAX_RETRY_DELAY = 1.0
DELIVERY_TIMEOUT = 10.0

ReplyMethod = Callable[[str, Params], Awaitable[None]]
"""Runs a Bot API method the webhook answered with (Telegram allows one per response)."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40


async def _reply_params(response: aiohttp.ClientResponse) -> tuple[str, Params] | None:
    """The method call in a webhook response body (JSON or multipart), if there is one."""
    values: dict[str, JSON] = {}
    uploads: dict[str, Upload] = {}
    if response.content_type == "application/json":
        body = await response.json()
        if isinstance(body, dict):
            values.update(body)
    elif response.content_type == "multipart/form-data":
        reader = aiohttp.MultipartReader.from_response(response)
        while (part := await reader.next()) is not None:
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename:
                uploads[part.name] = Upload(part.filename, bytes(await part.read()))
            else:
                values[part.name] = await part.text()
    method = values.pop("method", None)
    if not isinstance(method, str):
        return None
    return method, Params(values, uploads)


class WebhookDelivery:
    """Owns the webhook configuration and the task that delivers pending updates."""

    def __init__(self, queue: UpdateQueue, run_reply: ReplyMethod) -> None:
        self.config: WebhookConfig | None = None
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self._queue = queue
        self._run_reply = run_reply
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self.config is not None

    def set(self, config: WebhookConfig) -> None:
        self.config = config
        self.last_error_date = self.last_error_message = None
        if self._task is None:
            self._task = asyncio.create_task(self._deliver_forever(), name="emulator-webhook")

    async def delete(self) -> None:
        self.config = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def info(self) -> JSONObject:
        info: JSONObject = {
            "url": self.config.url if self.config else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._queue.pending()),
        }
        if self.config:
            info["max_connections"] = self.config.max_connections
            allowed: list[JSON] = [*sorted(self._queue.allowed_updates)]
            info["allowed_updates"] = allowed
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return info

    async def post_raw(self, body: bytes, *, with_secret: bool = True) -> int:
        """POST `body` as it is (as JSON, with the secret token unless `with_secret` is
        false) to the webhook; return the HTTP status the bot answered."""
        config = self.config
        if config is None:
            raise EmulatorError("no webhook is set: the bot has not called setWebhook")
        headers = {"Content-Type": "application/json"}
        if with_secret and config.secret_token:
            headers[SECRET_HEADER] = config.secret_token
        timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(config.url, data=body, headers=headers) as response,
        ):
            return response.status

    async def _deliver_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=DELIVERY_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            failures = 0
            while True:
                await self._queue.changed.wait_until(self._queue.has_pending)
                update, config = self._queue.first(), self.config
                if update is None or config is None:
                    continue
                if await self._deliver(session, config, update.to_json()):
                    failures = 0
                    self._queue.confirm(update.update_id + 1)
                else:
                    await asyncio.sleep(min(MAX_RETRY_DELAY, FIRST_RETRY_DELAY * 2**failures))
                    failures += 1

    async def _deliver(
        self, session: aiohttp.ClientSession, config: WebhookConfig, update: JSONObject
    ) -> bool:
        headers = {SECRET_HEADER: config.secret_token} if config.secret_token else {}
        try:
            async with session.post(config.url, json=update, headers=headers) as response:
                if not 200 <= response.status < 300:
                    self._failed(
                        f"Wrong response from the webhook: {response.status} {response.reason}"
                    )
                    return False
                reply = await _reply_params(response)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._failed(f"Connection failed: {type(exc).__name__}: {exc}")
            return False
        if reply is not None:
            await self._run_reply(*reply)
        return True

    def _failed(self, message: str) -> None:
        self.last_error_date = unix_now()
        self.last_error_message = message
