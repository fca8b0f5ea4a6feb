"""Bot API methods about the bot itself: identity, updates, webhook, commands, callbacks."""

import asyncio
import re
import time

from telegram_emulator import validation
from telegram_emulator.errors import bad_request, chat_not_found, conflict
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.params import MethodHandler, Params
from telegram_emulator.records import CallbackAnswer
from telegram_emulator.state import CommandsKey, EmulatorState, commands_key
from telegram_emulator.update_queue import UpdateQueue
from telegram_emulator.webhook import WebhookConfig, WebhookDelivery

MAX_UPDATES_LIMIT = 100
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
WEBHOOK_CONFLICT = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
POLLING_CONFLICT = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
QUERY_EXPIRED = "query is too old and response timeout expired or query ID is invalid"


def _commands_key(params: Params) -> CommandsKey:
    return commands_key(params.optional_object("scope"), params.optional_str("language_code"))


class BotMethods:
    def __init__(self, state: EmulatorState, queue: UpdateQueue, webhook: WebhookDelivery) -> None:
        self._state = state
        self._queue = queue
        self._webhook = webhook
        self._poll_generation = 0

    def handlers(self) -> dict[str, MethodHandler]:
        return {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "answerCallbackQuery": self.answer_callback_query,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setChatMenuButton": self.set_chat_menu_button,
            "getChatMenuButton": self.get_chat_menu_button,
            "getChat": self.get_chat,
        }

    async def get_me(self, params: Params) -> JSON:
        return {
            **self._state.bot_user.to_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, params: Params) -> JSON:
        """Long polling: answer at once if updates are pending, else wait up to `timeout`."""
        queue = self._queue
        if self._webhook.active:
            raise conflict(WEBHOOK_CONFLICT)
        limit = min(max(params.optional_int("limit") or MAX_UPDATES_LIMIT, 1), MAX_UPDATES_LIMIT)
        timeout = max(params.optional_int("timeout") or 0, 0)
        queue.set_allowed_updates(params.optional_list("allowed_updates"))
        offset = params.optional_int("offset")
        if offset is not None:
            queue.confirm(offset)
        # A newer getUpdates call terminates any that is still waiting, like Telegram.
        self._poll_generation += 1
        generation = self._poll_generation
        queue.changed.notify()

        def answer_ready() -> bool:
            return (
                queue.has_pending()
                or queue.closed
                or self._webhook.active
                or generation != self._poll_generation
            )

        try:
            async with asyncio.timeout(timeout):
                await queue.changed.wait_until(answer_ready)
        except TimeoutError:
            return []
        if generation != self._poll_generation:
            raise conflict(POLLING_CONFLICT)
        if self._webhook.active:
            raise conflict(WEBHOOK_CONFLICT)
        return [update.to_json() for update in queue.pending()[:limit]]

    async def set_webhook(self, params: Params) -> JSON:
        url = params.optional_str("url") or ""
        if not url:
            return await self.delete_webhook(params)
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.optional_str("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise bad_request("secret token contains unallowed characters")
        self._queue.set_allowed_updates(params.optional_list("allowed_updates"))
        if params.flag("drop_pending_updates"):
            self._queue.drop_pending()
        max_connections = params.optional_int("max_connections") or 40
        self._webhook.set(WebhookConfig(url, secret, max_connections))
        self._queue.changed.notify()
        return True

    async def delete_webhook(self, params: Params) -> JSON:
        if params.flag("drop_pending_updates"):
            self._queue.drop_pending()
        await self._webhook.delete()
        return True

    async def get_webhook_info(self, params: Params) -> JSON:
        return self._webhook.info()

    async def answer_callback_query(self, params: Params) -> JSON:
        query_id = params.optional_str("callback_query_id") or ""
        pending = self._state.callbacks.get(query_id)
        if pending is None or pending.answered:
            raise bad_request(QUERY_EXPIRED)
        text = params.optional_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        pending.answered = True
        self._state.callback_answers[query_id] = CallbackAnswer(
            callback_query_id=query_id,
            text=text,
            show_alert=params.flag("show_alert"),
            url=params.optional_str("url"),
            cache_time=params.optional_int("cache_time") or 0,
            at=time.monotonic(),
        )
        self._state.messages_changed.notify()
        return True

    async def set_my_commands(self, params: Params) -> JSON:
        commands = validation.bot_commands(params.optional_list("commands"))
        if len(commands) > 100:
            raise bad_request("too many commands")
        self._state.commands[_commands_key(params)] = commands
        return True

    async def get_my_commands(self, params: Params) -> JSON:
        commands: list[JSON] = list(self._state.commands.get(_commands_key(params), []))
        return commands

    async def delete_my_commands(self, params: Params) -> JSON:
        self._state.commands.pop(_commands_key(params), None)
        return True

    async def set_chat_menu_button(self, params: Params) -> JSON:
        """A private chat's menu button (no chat_id: the bot's default): commands, default,
        or a web_app button with a text and an https URL, as the Bot API server checks."""
        chat_id = params.optional_int("chat_id")
        if chat_id is not None and self._state.chat(chat_id) is None:
            raise chat_not_found()
        button = params.optional_object("menu_button") or {"type": "default"}
        kind = button.get("type")
        if kind == "web_app":
            text, web_app = button.get("text"), button.get("web_app")
            url = web_app.get("url") if isinstance(web_app, dict) else None
            if not isinstance(text, str) or not text or not isinstance(url, str):
                raise bad_request("menu button web_app needs a text and a web_app url")
            if not url.startswith("https://"):
                raise bad_request(
                    f"menu button Web App URL '{url}' is invalid: Only HTTPS links are allowed"
                )
        elif kind not in ("commands", "default"):
            raise bad_request("unsupported menu button type")
        self._state.menu_buttons[chat_id] = button
        return True

    async def get_chat_menu_button(self, params: Params) -> JSON:
        chat_id = params.optional_int("chat_id")
        found = self._state.menu_buttons.get(chat_id) or self._state.menu_buttons.get(None)
        return found or {"type": "default"}

    async def get_chat(self, params: Params) -> JSON:
        chat_id = params.get("chat_id")
        chat = self._state.chat(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise chat_not_found()
        gift_types: JSONObject = {
            "unlimited_gifts": True,
            "limited_gifts": True,
            "unique_gifts": True,
            "premium_subscription": True,
            "gifts_from_channels": True,
        }
        return {
            **chat.to_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gift_types,
        }
