"""The Bot API over HTTP: `/bot<token>/<method>` dispatch, fault injection, request log."""

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from http import HTTPStatus

from aiohttp import web

from telegram_emulator.arrivals import listening_socket
from telegram_emulator.errors import ApiError, not_found
from telegram_emulator.faults import Faults
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.limits import SENDING_METHODS, RateLimiter
from telegram_emulator.notifier import Notifier
from telegram_emulator.params import MAX_UPLOAD_BYTES, MethodHandler, Params, read_params
from telegram_emulator.records import RecordedRequest

MAX_REQUEST_BYTES = 10 * MAX_UPLOAD_BYTES + 1024 * 1024
"""Largest request body read: an album of ten files of 50 MB each (a larger one, or any file
over 50 MB, is answered 413 "Request Entity Too Large"; files are spooled to disk)."""
SHUTDOWN_TIMEOUT = 2.0
_SENDING = frozenset(method.lower() for method in SENDING_METHODS)


async def serve(routes: Iterable[web.RouteDef], host: str, port: int) -> tuple[web.AppRunner, str]:
    """Listen on host:port (0 picks a free port); return the runner and the base URL."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app.add_routes(routes)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    await web.SockSite(runner, listening_socket(host, port)).start()
    bound_host, bound_port = runner.addresses[0][:2]
    return runner, f"http://{bound_host}:{bound_port}"


def _message_ids(result: JSON) -> tuple[int, ...]:
    """The ids of the messages a send delivered: its `Message`, or an album's list of them."""
    messages = result if isinstance(result, list) else [result]
    return tuple(
        message_id
        for message in messages
        if isinstance(message, dict) and isinstance(message_id := message.get("message_id"), int)
    )


class BotApi:
    """Routes Bot API calls to method handlers and records each call with its answer."""

    def __init__(
        self, handlers: Mapping[str, MethodHandler], *, faults: Faults, limiter: RateLimiter
    ) -> None:
        # Telegram matches method names case-insensitively.
        self._handlers = {name.lower(): (name, handler) for name, handler in handlers.items()}
        self._faults = faults
        self._limiter = limiter
        self.requests: list[RecordedRequest] = []
        self.requests_changed = Notifier()

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", "/bot{token}/{method}", self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        try:
            params = await read_params(request)
        except ApiError as error:
            return web.json_response(error.body(), status=error.status)
        method = request.match_info["method"]
        status, body = await self.call(method, params)
        limits = self._limiter.limits
        delay = limits.delay_seconds
        if self._faults.holds(is_send=method.lower() in _SENDING, hold_rate=limits.hold_rate):
            delay += limits.hold_seconds
        if delay > 0:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status)

    async def call(self, method: str, params: Params) -> tuple[int, JSONObject]:
        """Run one method; return the HTTP status and the Telegram-shaped body."""
        wall_time = datetime.now(UTC)
        name, handler = self._handlers.get(method.lower(), (method, None))
        try:
            if handler is None:
                raise not_found()
            fault = self._faults.take(
                name,
                is_send=name in SENDING_METHODS,
                error_rate=self._limiter.limits.error_rate,
            )
            if fault is not None:
                raise fault
            result = await handler(params)
            body: JSONObject = {"ok": True, "result": result}
            status, description = int(HTTPStatus.OK), None
            message_ids = _message_ids(result) if name in SENDING_METHODS else ()
        except ApiError as error:
            body, status, description = error.body(), error.status, error.description
            message_ids = ()
        self.requests.append(
            RecordedRequest(
                method=name,
                params=params.to_record(),
                at=params.received_at,
                wall_time=wall_time,
                status=status,
                ok=status == HTTPStatus.OK,
                description=description,
                message_ids=message_ids,
            )
        )
        self.requests_changed.notify()
        return status, body

    async def run_webhook_reply(self, method: str, params: Params) -> None:
        """A method the bot answered a webhook delivery with (recorded like any call)."""
        await self.call(method, params)
