"""The control API over HTTP, under `/_emulator/`: the Python API for other processes.

Answers are `{"ok": true, "result": ...}` or `{"ok": false, "error": "..."}` (status 400, or
408 when a wait timed out). `EmulatorClient` is the typed Python client for these routes.
"""

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from telegram_emulator.errors import ApiError, EmulatorError
from telegram_emulator.json_types import JSON
from telegram_emulator.limits import Limits
from telegram_emulator.params import Params

if TYPE_CHECKING:
    from telegram_emulator.emulator import Emulator

PREFIX = "/_emulator"
ControlHandler = Callable[[web.Request, Params], Awaitable[JSON]]


async def _body(request: web.Request) -> Params:
    values = dict(request.query)
    if request.body_exists:
        body = await request.json()
        if not isinstance(body, dict):
            raise EmulatorError("request body must be a JSON object")
        values.update(body)
    return Params(values)


def _answer(handler: ControlHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def respond(request: web.Request) -> web.StreamResponse:
        try:
            result = await handler(request, await _body(request))
        except (EmulatorError, ValueError) as error:
            return web.json_response({"ok": False, "error": str(error)}, status=400)
        except ApiError as error:
            return web.json_response({"ok": False, "error": error.description}, status=400)
        except TimeoutError as error:
            return web.json_response({"ok": False, "error": str(error)}, status=408)
        return web.json_response({"ok": True, "result": result})

    return respond


def _id(request: web.Request, name: str) -> int:
    return int(request.match_info[name])


def _timeout(params: Params) -> float:
    """A wait's `timeout` query parameter in seconds (default 5)."""
    return float(params.optional_str("timeout") or 5.0)


def _required_str(params: Params, name: str) -> str:
    value = params.optional_str(name)
    if value is None:
        raise EmulatorError(f"{name} is required")
    return value


def _updated_limits(current: Limits, params: Params) -> Limits:
    """A copy of `current` with the fields the request names (type-checked) changed."""
    updated = dataclasses.replace(current)
    for field in dataclasses.fields(Limits):
        value = params.get(field.name)
        if value is None:
            continue
        wants_bool = field.type in {bool, "bool"}
        if isinstance(value, bool) != wants_bool or not isinstance(value, int | float):
            raise EmulatorError(f"limits.{field.name} must be a {field.type}")
        setattr(updated, field.name, value)
    return updated


class ControlApi:
    def __init__(self, emulator: "Emulator") -> None:
        self._emu = emulator

    def routes(self) -> list[web.RouteDef]:
        user = f"{PREFIX}/users/{{user_id}}"
        return [
            web.post(f"{PREFIX}/users", _answer(self.add_user)),
            web.post(f"{user}/text", _answer(self.send_text)),
            web.post(f"{user}/press", _answer(self.press_button)),
            web.post(f"{user}/contact", _answer(self.share_contact)),
            web.post(f"{user}/react", _answer(self.react)),
            web.post(f"{user}/block", _answer(self.block)),
            web.post(f"{user}/unblock", _answer(self.unblock)),
            web.post(f"{user}/deactivate", _answer(self.deactivate)),
            web.get(f"{PREFIX}/chats/{{chat_id}}/messages", _answer(self.messages)),
            web.get(f"{PREFIX}/chats/{{chat_id}}/sends", _answer(self.sends)),
            web.get(f"{PREFIX}/messages", _answer(self.sent_messages)),
            web.get(f"{PREFIX}/requests", _answer(self.requests)),
            web.delete(f"{PREFIX}/requests", _answer(self.clear_requests)),
            web.get(f"{PREFIX}/callback_answers", _answer(self.callback_answers)),
            web.get(f"{PREFIX}/limits", _answer(self.get_limits)),
            web.put(f"{PREFIX}/limits", _answer(self.put_limits)),
            web.post(f"{PREFIX}/faults/fail_next", _answer(self.fail_next)),
            web.post(f"{PREFIX}/faults/retry_after", _answer(self.retry_after)),
            web.delete(f"{PREFIX}/faults", _answer(self.clear_faults)),
            web.get(f"{PREFIX}/updates", _answer(self.updates)),
            web.post(f"{PREFIX}/updates", _answer(self.inject_update)),
            web.get(f"{PREFIX}/webhook", _answer(self.webhook)),
            web.post(f"{PREFIX}/webhook/posts", _answer(self.post_to_webhook)),
        ]

    async def add_user(self, request: web.Request, params: Params) -> JSON:
        user = self._emu.add_user(
            params.require_int("id"),
            first_name=params.optional_str("first_name") or "Ann",
            last_name=params.optional_str("last_name"),
            username=params.optional_str("username"),
            language_code=params.optional_str("language_code") or "en",
        )
        return user.to_json()

    async def send_text(self, request: web.Request, params: Params) -> JSON:
        return await self._emu.send_text(
            _id(request, "user_id"),
            _required_str(params, "text"),
            forward=params.get("forward") is True,
            reply_to=params.optional_int("reply_to"),
        )

    async def press_button(self, request: web.Request, params: Params) -> JSON:
        query_id = await self._emu.press_button(
            _id(request, "user_id"),
            params.require_int("message_id"),
            _required_str(params, "data"),
            forged=params.get("forged") is True,
        )
        return {"callback_query_id": query_id}

    async def share_contact(self, request: web.Request, params: Params) -> JSON:
        return await self._emu.share_contact(
            _id(request, "user_id"),
            _required_str(params, "phone_number"),
            contact_user_id=params.optional_int("contact_user_id"),
            first_name=params.optional_str("first_name"),
        )

    async def react(self, request: web.Request, params: Params) -> JSON:
        emoji = params.optional_str("emoji") if "emoji" in params else "👍"
        return await self._emu.react(
            _id(request, "user_id"), params.require_int("message_id"), emoji
        )

    async def block(self, request: web.Request, params: Params) -> JSON:
        await self._emu.block(_id(request, "user_id"))
        return True

    async def unblock(self, request: web.Request, params: Params) -> JSON:
        await self._emu.unblock(_id(request, "user_id"))
        return True

    async def deactivate(self, request: web.Request, params: Params) -> JSON:
        self._emu.deactivate(_id(request, "user_id"))
        return True

    async def messages(self, request: web.Request, params: Params) -> JSON:
        """Query `count` (and `timeout`, default 5 s) waits for that many messages."""
        chat_id, count = _id(request, "chat_id"), params.optional_str("count")
        if count is None:
            messages = self._emu.messages_to(chat_id)
        else:
            messages = await self._emu.wait_for_messages(chat_id, int(count), _timeout(params))
        return [message.to_json() for message in messages]

    async def sends(self, request: web.Request, params: Params) -> JSON:
        """The chat's sends (an album's messages together); `count` waits as for messages."""
        chat_id, count = _id(request, "chat_id"), params.optional_str("count")
        if count is None:
            sends = self._emu.sends_to(chat_id)
        else:
            sends = await self._emu.wait_for_sends(chat_id, int(count), _timeout(params))
        return [send.to_json() for send in sends]

    async def sent_messages(self, request: web.Request, params: Params) -> JSON:
        """Every message the bot sent, to any chat, in delivery order."""
        return [message.to_json() for message in self._emu.sent_messages()]

    async def requests(self, request: web.Request, params: Params) -> JSON:
        method = params.optional_str("method")
        requests = self._emu.requests_for(method) if method else self._emu.requests
        return [recorded.to_json() for recorded in requests]

    async def clear_requests(self, request: web.Request, params: Params) -> JSON:
        self._emu.clear_requests()
        return True

    async def callback_answers(self, request: web.Request, params: Params) -> JSON:
        return {key: answer.to_json() for key, answer in self._emu.callback_answers.items()}

    async def get_limits(self, request: web.Request, params: Params) -> JSON:
        limits: dict[str, JSON] = dataclasses.asdict(self._emu.limits)
        return limits

    async def put_limits(self, request: web.Request, params: Params) -> JSON:
        self._emu.limits = _updated_limits(self._emu.limits, params)
        return await self.get_limits(request, params)

    async def fail_next(self, request: web.Request, params: Params) -> JSON:
        self._emu.fail_next(
            params.optional_int("n") or 1,
            params.optional_int("status") or 500,
            params.optional_str("method"),
        )
        return True

    async def retry_after(self, request: web.Request, params: Params) -> JSON:
        self._emu.force_retry_after(params.require_int("seconds"), params.optional_int("n") or 1)
        return True

    async def clear_faults(self, request: web.Request, params: Params) -> JSON:
        self._emu.clear_faults()
        return True

    async def updates(self, request: web.Request, params: Params) -> JSON:
        return list(self._emu.updates_pending())

    async def inject_update(self, request: web.Request, params: Params) -> JSON:
        """Body `{"update": {...}}`: the raw update's fields, all but its update_id."""
        fields = params.optional_object("update")
        if fields is None:
            raise EmulatorError("update is required: a JSON object, the update's fields")
        return self._emu.inject_update(fields)

    async def webhook(self, request: web.Request, params: Params) -> JSON:
        return self._emu.webhook_info()

    async def post_to_webhook(self, request: web.Request, params: Params) -> JSON:
        """Body `{"body": "...", "with_secret": true}`: the text is posted as it is (a JSON
        body too deep or broken to carry as JSON here travels as a string)."""
        status = await self._emu.post_to_webhook(
            _required_str(params, "body"), with_secret=params.get("with_secret") is not False
        )
        return {"status": status}


def control_routes(emulator: "Emulator") -> list[web.RouteDef]:
    return ControlApi(emulator).routes()
