"""Where a bot's send is admitted and its messages enter the chat: the steps every send
method shares, in Telegram's order.

A send is refused, and nothing of it delivered, with the first answer that applies:
400 for a bad request (content, buttons, options, file: each method checks these before
`admit`), 400 "chat not found", 400 when the message to reply to is gone, 429 when the
flood limits say wait (no slot taken), 403 when the user blocked the bot or deleted their
account (the slot is taken: the attempt counts). An admitted send is delivered whole, in
one step: its message, or every message of an album.
"""

import time
from dataclasses import dataclass

from telegram_emulator.errors import bad_request, chat_not_found, forbidden, too_many_requests
from telegram_emulator.json_types import JSONObject
from telegram_emulator.limits import RateLimiter
from telegram_emulator.message_objects import bot_message
from telegram_emulator.params import Params
from telegram_emulator.send_options import SendOptions
from telegram_emulator.sent import SentMedia, SentMessage
from telegram_emulator.state import ChatState, EmulatorState
from telegram_emulator.text_entities import FormattedText
from telegram_emulator.updates import unix_now


@dataclass(frozen=True, slots=True)
class Content:
    """What one message shows: its text or its file and caption, as the bot sent them."""

    formatted: FormattedText
    text: str | None = None
    caption: str | None = None
    parse_mode: str | None = None
    media: SentMedia | None = None
    show_caption_above_media: bool = False
    link_preview_options: JSONObject | None = None


class Outbox:
    """Admits sends to chats and delivers their messages."""

    def __init__(self, state: EmulatorState, limiter: RateLimiter) -> None:
        self._state = state
        self._limiter = limiter

    def chat(self, params: Params) -> ChatState:
        """The chat `chat_id` names (every emulated chat is a user's private chat)."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self._state.chat(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise chat_not_found()
        return chat

    @staticmethod
    def reachable(chat: ChatState) -> ChatState:
        if chat.user.deactivated:
            raise forbidden("user is deactivated")
        if chat.user.blocked:
            raise forbidden("bot was blocked by the user")
        return chat

    def admit(self, chat: ChatState, params: Params) -> None:
        """A valid send replies to a message that exists, takes a flood-limit slot (an album
        takes one), then must reach the user."""
        reply = params.optional_object("reply_parameters") or {}
        target = reply.get("message_id", params.optional_int("reply_to_message_id"))
        allow = reply.get("allow_sending_without_reply") or params.flag(
            "allow_sending_without_reply"
        )
        if isinstance(target, int) and not chat.has_message(target) and not allow:
            raise bad_request("message to be replied not found")
        paid = params.flag("allow_paid_broadcast")
        retry_after = self._limiter.acquire(chat.id, paid=paid, now=params.received_at)
        if retry_after is not None:
            raise too_many_requests(retry_after)
        self.reachable(chat)

    def deliver(
        self,
        chat: ChatState,
        method: str,
        contents: list[Content],
        options: SendOptions,
        *,
        media_group_id: str | None = None,
    ) -> list[JSONObject]:
        """Put the admitted send's messages in the chat; return them as Bot API `Message`s."""
        date, sent_at = unix_now(), time.monotonic()
        messages = [
            SentMessage(
                message_id=chat.next_message_id(),
                chat_id=chat.id,
                date=date,
                sent_at=sent_at,
                formatted=content.formatted,
                method=method,
                text=content.text,
                caption=content.caption,
                parse_mode=content.parse_mode,
                media=content.media,
                media_group_id=media_group_id,
                show_caption_above_media=content.show_caption_above_media,
                reply_markup=options.reply_markup,
                link_preview_options=content.link_preview_options,
                protect_content=options.protect_content,
                message_effect_id=options.message_effect_id,
            )
            for content in contents
        ]
        self._state.record_sent(messages)
        return [bot_message(message, chat, self._state.bot_user) for message in messages]
