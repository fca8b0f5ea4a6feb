"""`Emulator`: a Telegram Bot API server for tests and demos, and its Python control API."""

import asyncio
from collections.abc import Callable, Sized
from http import HTTPStatus
from types import TracebackType
from typing import Self

from aiohttp.web import AppRunner

from telegram_emulator.api_bot import BotMethods
from telegram_emulator.api_media import MediaMethods
from telegram_emulator.api_messages import MessageMethods
from telegram_emulator.control import control_routes
from telegram_emulator.errors import EmulatorError
from telegram_emulator.faults import Faults
from telegram_emulator.json_types import JSONObject
from telegram_emulator.limits import Limits, RateLimiter
from telegram_emulator.outbox import Outbox
from telegram_emulator.params import Params
from telegram_emulator.records import (
    CallbackAnswer,
    EmulatedUser,
    RecordedRequest,
    describe_missing_messages,
)
from telegram_emulator.sent import Send, SentMessage, group_sends
from telegram_emulator.server import BotApi, serve
from telegram_emulator.state import EmulatorState, commands_key
from telegram_emulator.update_queue import UpdateQueue
from telegram_emulator.users import UserActions
from telegram_emulator.webhook import WebhookDelivery

DEFAULT_BOT_ID = 7_000_000_001


class Emulator:
    """Speaks the Bot API at `base_url` (any token is accepted) and lets tests act as users.

    Typical use::

        async with Emulator() as emu:
            bot = Bot("42:TEST", session=AiohttpSession(
                api=TelegramAPIServer.from_base(emu.base_url)))
            await emu.send_text(1, "/start")
            ...
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        bot_username: str = "segbot_demo_bot",
        bot_first_name: str = "SegBot Demo",
        bot_id: int = DEFAULT_BOT_ID,
        seed: int = 0,
    ) -> None:
        bot_user = EmulatedUser(bot_id, bot_first_name, username=bot_username, is_bot=True)
        self._state = EmulatorState(bot_user)
        self._queue = UpdateQueue()
        self._limiter = RateLimiter(limits or Limits())
        self._faults = Faults(seed)
        self._users = UserActions(self._state, self._queue)
        self._webhook = WebhookDelivery(self._queue, self._run_webhook_reply)
        outbox = Outbox(self._state, self._limiter)
        handlers = {
            **MessageMethods(self._state, outbox).handlers(),
            **MediaMethods(self._state, outbox).handlers(),
            **BotMethods(self._state, self._queue, self._webhook).handlers(),
        }
        self._api = BotApi(handlers, faults=self._faults, limiter=self._limiter)
        self._runner: AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0 picks a free port); return `base_url`."""
        if self._runner is not None or self._queue.closed:
            raise EmulatorError("an emulator starts once; create a new one after close()")
        routes = [*self._api.routes(), *control_routes(self)]
        self._runner, self._base_url = await serve(routes, host, port)
        return self._base_url

    async def close(self) -> None:
        """Release waiting long polls, stop webhook delivery and the HTTP server."""
        self._queue.close()
        await self._webhook.delete()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """`http://host:port`, for `TelegramAPIServer.from_base()` / SEGBOT_TELEGRAM_API_BASE."""
        if self._base_url is None:
            raise EmulatorError("emulator not started; call start() first")
        return self._base_url

    @property
    def bot_user(self) -> EmulatedUser:
        return self._state.bot_user

    @property
    def limits(self) -> Limits:
        """The live limits; mutate fields or assign a new `Limits` at any time."""
        return self._limiter.limits

    @limits.setter
    def limits(self, limits: Limits) -> None:
        self._limiter.limits = limits

    # -- users -------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str = "Ann",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> EmulatedUser:
        """Register a user and their private chat (chat id == user id); idempotent."""
        return self._users.add_user(
            user_id,
            first_name=first_name,
            last_name=last_name,
            username=username,
            language_code=language_code,
        )

    def user(self, user_id: int) -> EmulatedUser:
        return self._state.require_chat(user_id).user

    async def send_text(
        self, user_id: int, text: str, *, forward: bool = False, reply_to: int | None = None
    ) -> JSONObject:
        """The user sends `text` (commands get a bot_command entity); returns the message."""
        return self._users.send_text(user_id, text, forward=forward, reply_to=reply_to)

    async def send_photo(self, user_id: int, *, caption: str | None = None) -> JSONObject:
        """The user sends a photo with an optional caption; returns the message."""
        return self._users.send_photo(user_id, caption=caption)

    async def press_button(
        self, user_id: int, message_id: int, data: str, *, forged: bool = False
    ) -> str:
        """Press the inline button with `data`; returns the callback query id. `forged`:
        a modified client sends `data`, which no button of the message need carry."""
        return self._users.press_button(user_id, message_id, data, forged=forged)

    async def share_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        first_name: str | None = None,
    ) -> JSONObject:
        return self._users.share_contact(
            user_id, phone_number, contact_user_id=contact_user_id, first_name=first_name
        )

    async def block(self, user_id: int) -> None:
        """The user blocks the bot: my_chat_member (member -> kicked), sends answer 403."""
        self._users.block(user_id)

    async def unblock(self, user_id: int) -> None:
        """The user unblocks the bot: my_chat_member (kicked -> member)."""
        self._users.unblock(user_id)

    def deactivate(self, user_id: int) -> None:
        """The user deletes their account: sends answer 403 "user is deactivated"."""
        self._users.deactivate(user_id)

    async def react(self, user_id: int, message_id: int, emoji: str | None = "👍") -> JSONObject:
        """Set (None: remove) a reaction; the update is queued only if allowed_updates asks."""
        return self._users.react(user_id, message_id, emoji)

    # -- what the bot did --------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        """Every message the bot sent to the chat, in order (deleted ones flagged); an
        album's messages are each one (`sends_to` groups them)."""
        return self._state.messages_to(chat_id)

    def sends_to(self, chat_id: int) -> list[Send]:
        """The bot's sends to the chat, in order: each one message, or an album's messages
        (an album counts as one send, as it is one request)."""
        return group_sends(self._state.messages_to(chat_id))

    def sent_messages(self) -> list[SentMessage]:
        """Every message the bot sent, to any chat, in the order they were delivered (to
        see a file uploaded once, then sent to everyone else by file_id)."""
        return list(self._state.sent_log)

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-call deadline keeps tests short
    ) -> list[SentMessage]:
        """Wait until the chat has received at least `count` messages; return them all."""
        await self._wait_for(chat_id, count, timeout, lambda: self._state.messages_to(chat_id))
        return self._state.messages_to(chat_id)

    async def wait_for_sends(
        self,
        chat_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-call deadline keeps tests short
    ) -> list[Send]:
        """Wait until the chat has received at least `count` sends (an album is one)."""
        await self._wait_for(chat_id, count, timeout, lambda: self.sends_to(chat_id))
        return self.sends_to(chat_id)

    async def _wait_for(
        self,
        chat_id: int,
        count: int,
        timeout: float,  # noqa: ASYNC109 - a per-call deadline keeps tests short
        received: Callable[[], Sized],
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                await self._state.messages_changed.wait_until(lambda: len(received()) >= count)
        except TimeoutError:
            messages = self._state.messages_to(chat_id)
            failed = [
                r for r in self._api.requests if not r.ok and r.params.get("chat_id") == chat_id
            ]
            explanation = describe_missing_messages(chat_id, count, timeout, messages, failed)
            raise TimeoutError(explanation) from None

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every Bot API request so far, in the order they were answered."""
        return list(self._api.requests)

    def requests_for(self, *methods: str) -> list[RecordedRequest]:
        wanted = {method.lower() for method in methods}
        return [request for request in self._api.requests if request.method.lower() in wanted]

    def clear_requests(self) -> None:
        self._api.requests.clear()

    @property
    def callback_answers(self) -> dict[str, CallbackAnswer]:
        """answerCallbackQuery calls by callback query id."""
        return self._state.callback_answers

    async def wait_for_callback_answer(
        self,
        callback_query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - a per-call deadline keeps tests short
    ) -> CallbackAnswer:
        """Wait until the bot answers the button press `callback_query_id`."""
        answers = self._state.callback_answers
        try:
            async with asyncio.timeout(timeout):
                await self._state.messages_changed.wait_until(lambda: callback_query_id in answers)
        except TimeoutError:
            message = f"callback query {callback_query_id} not answered within {timeout}s"
            raise TimeoutError(message) from None
        return answers[callback_query_id]

    def my_commands(
        self, scope: JSONObject | None = None, language_code: str = ""
    ) -> list[JSONObject]:
        """The command list set with setMyCommands for a scope (default scope if None)."""
        return list(self._state.commands.get(commands_key(scope, language_code), []))

    def menu_button(self, chat_id: int) -> JSONObject:
        """The menu button set with setChatMenuButton for a chat (else the default's)."""
        found = self._state.menu_buttons.get(chat_id) or self._state.menu_buttons.get(None)
        return dict(found or {"type": "default"})

    # -- updates and webhook -----------------------------------------------------------

    def updates_pending(self) -> list[JSONObject]:
        """Updates queued and not yet confirmed by the bot."""
        return [update.to_json() for update in self._queue.pending()]

    @property
    def allowed_updates(self) -> frozenset[str]:
        return self._queue.allowed_updates

    def webhook_info(self) -> JSONObject:
        """What getWebhookInfo would answer."""
        return self._webhook.info()

    def inject_update(self, fields: JSONObject) -> JSONObject:
        """Queue a raw update, schema-invalid or of an unknown type as it may be: `fields`
        are all of it but the update_id, which the emulator assigns. It is delivered like
        any other (getUpdates or the webhook); returns it as delivered."""
        return self._queue.push_raw(fields).to_json()

    async def post_to_webhook(self, body: str | bytes, *, with_secret: bool = True) -> int:
        """POST any `body` to the bot's webhook (with its secret token unless told not to),
        outside the update queue; return the HTTP status the bot answered."""
        raw = body.encode() if isinstance(body, str) else body
        return await self._webhook.post_raw(raw, with_secret=with_secret)

    # -- faults ------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = HTTPStatus.INTERNAL_SERVER_ERROR, method: str | None = None
    ) -> None:
        """The next `n` calls of `method` answer `status` (None: any method but getUpdates)."""
        self._faults.fail_next(n, status, method)

    def force_retry_after(self, seconds: int, n: int = 1) -> None:
        """The next `n` sends answer 429 with `retry_after=seconds`."""
        self._faults.force_retry_after(seconds, n)

    def clear_faults(self) -> None:
        self._faults.clear()

    def reset_rate_limits(self) -> None:
        """Forget past sends, as if the flood limits had fully recovered."""
        self._limiter.reset()

    # -- internals ---------------------------------------------------------------------

    async def _run_webhook_reply(self, method: str, params: Params) -> None:
        await self._api.call(method, params)
