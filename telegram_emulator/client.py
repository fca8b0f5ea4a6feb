"""`EmulatorClient`: the HTTP control API for processes that do not own the `Emulator`."""

from types import TracebackType
from typing import Self

import aiohttp

from telegram_emulator.control import PREFIX
from telegram_emulator.errors import EmulatorError
from telegram_emulator.json_types import JSON, JSONObject


def _object(value: JSON) -> JSONObject:
    if not isinstance(value, dict):
        raise EmulatorError(f"expected a JSON object, got {value!r}")
    return value


def _objects(value: JSON) -> list[JSONObject]:
    if not isinstance(value, list):
        raise EmulatorError(f"expected a JSON array, got {value!r}")
    return [_object(item) for item in value]


class EmulatorClient:
    """Drives an emulator running elsewhere (`python -m telegram_emulator`, another test process).

    Results are JSON: messages as `SentMessage.to_json()` (with `media`: kind, source
    `upload`/`url`/`file_id`, file_id...), sends as `Send.to_json()`, requests as
    `RecordedRequest.to_json()`. Errors raise `EmulatorError` (`TimeoutError` for waits).
    """

    def __init__(self, base_url: str) -> None:
        self._control_url = f"{base_url.rstrip('/')}{PREFIX}"
        self._session: aiohttp.ClientSession | None = None

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

    async def add_user(
        self,
        user_id: int,
        first_name: str = "Ann",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSONObject:
        user: JSONObject = {"id": user_id, "first_name": first_name, "last_name": last_name}
        user |= {"username": username, "language_code": language_code}
        return _object(await self._call("POST", "/users", user))

    async def send_text(
        self, user_id: int, text: str, *, forward: bool = False, reply_to: int | None = None
    ) -> JSONObject:
        payload: JSONObject = {"text": text, "forward": forward, "reply_to": reply_to}
        return _object(await self._call("POST", f"/users/{user_id}/text", payload))

    async def press_button(
        self, user_id: int, message_id: int, data: str, *, forged: bool = False
    ) -> str:
        payload: JSONObject = {"message_id": message_id, "data": data, "forged": forged}
        result = _object(await self._call("POST", f"/users/{user_id}/press", payload))
        return str(result["callback_query_id"])

    async def share_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        first_name: str | None = None,
    ) -> JSONObject:
        payload: JSONObject = {"phone_number": phone_number, "contact_user_id": contact_user_id}
        payload["first_name"] = first_name
        return _object(await self._call("POST", f"/users/{user_id}/contact", payload))

    async def block(self, user_id: int) -> None:
        await self._call("POST", f"/users/{user_id}/block")

    async def unblock(self, user_id: int) -> None:
        await self._call("POST", f"/users/{user_id}/unblock")

    async def deactivate(self, user_id: int) -> None:
        await self._call("POST", f"/users/{user_id}/deactivate")

    async def react(self, user_id: int, message_id: int, emoji: str | None = "👍") -> JSONObject:
        payload: JSONObject = {"message_id": message_id, "emoji": emoji}
        return _object(await self._call("POST", f"/users/{user_id}/react", payload))

    async def messages_to(self, chat_id: int) -> list[JSONObject]:
        return await self._of_chat(chat_id, "messages")

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits; this bounds it
    ) -> list[JSONObject]:
        return await self._of_chat(chat_id, "messages", count, timeout)

    async def sends_to(self, chat_id: int) -> list[JSONObject]:
        """The chat's sends as `Send.to_json()`: method, media_group_id, message_ids and
        messages (an album is one send)."""
        return await self._of_chat(chat_id, "sends")

    async def wait_for_sends(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits; this bounds it
    ) -> list[JSONObject]:
        return await self._of_chat(chat_id, "sends", count, timeout)

    async def _of_chat(
        self,
        chat_id: int,
        what: str,
        count: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the server waits; this bounds it
    ) -> list[JSONObject]:
        """A chat's `messages` or `sends`; with `count`, once it has that many."""
        query = "" if count is None else f"?count={count}&timeout={timeout}"
        return _objects(await self._call("GET", f"/chats/{chat_id}/{what}{query}"))

    async def sent_messages(self) -> list[JSONObject]:
        """Every message the bot sent, to any chat, in delivery order."""
        return _objects(await self._call("GET", "/messages"))

    async def requests(self, method: str | None = None) -> list[JSONObject]:
        return _objects(
            await self._call("GET", f"/requests?method={method}" if method else "/requests")
        )

    async def clear_requests(self) -> None:
        await self._call("DELETE", "/requests")

    async def callback_answers(self) -> JSONObject:
        return _object(await self._call("GET", "/callback_answers"))

    async def limits(self) -> JSONObject:
        return _object(await self._call("GET", "/limits"))

    async def set_limits(self, **changes: float | bool) -> JSONObject:
        """Change some `Limits` fields, e.g. `set_limits(enabled=False)`; returns all of them."""
        payload: JSONObject = dict(changes)
        return _object(await self._call("PUT", "/limits", payload))

    async def fail_next(self, n: int = 1, status: int = 500, method: str | None = None) -> None:
        await self._call("POST", "/faults/fail_next", {"n": n, "status": status, "method": method})

    async def force_retry_after(self, seconds: int, n: int = 1) -> None:
        await self._call("POST", "/faults/retry_after", {"seconds": seconds, "n": n})

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def updates_pending(self) -> list[JSONObject]:
        return _objects(await self._call("GET", "/updates"))

    async def inject_update(self, fields: JSONObject) -> JSONObject:
        """Queue a raw update (all of it but update_id); returns it as delivered."""
        return _object(await self._call("POST", "/updates", {"update": fields}))

    async def webhook_info(self) -> JSONObject:
        return _object(await self._call("GET", "/webhook"))

    async def post_to_webhook(self, body: str, *, with_secret: bool = True) -> int:
        """POST `body` as it is to the bot's webhook; returns the HTTP status it answered."""
        payload: JSONObject = {"body": body, "with_secret": with_secret}
        result = _object(await self._call("POST", "/webhook/posts", payload))
        status = result["status"]
        if not isinstance(status, int):
            raise EmulatorError(f"expected an HTTP status, got {status!r}")
        return status

    async def _call(self, verb: str, path: str, payload: JSONObject | None = None) -> JSON:
        body = None if payload is None else {k: v for k, v in payload.items() if v is not None}
        if self._session is None:
            self._session = aiohttp.ClientSession()
        url = f"{self._control_url}{path}"
        async with self._session.request(verb, url, json=body) as response:
            answer = _object(await response.json())
        if answer.get("ok") is not True:
            error = str(answer.get("error"))
            raise TimeoutError(error) if response.status == 408 else EmulatorError(error)
        return answer.get("result")
