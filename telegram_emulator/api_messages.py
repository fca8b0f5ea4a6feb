"""Bot API methods for text messages and what follows a message: sendMessage, edits,
deletion, chat actions (files: `api_media`)."""

import time

from telegram_emulator import keyboards, validation
from telegram_emulator.errors import bad_request
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.message_objects import bot_message
from telegram_emulator.outbox import Content, Outbox
from telegram_emulator.params import MethodHandler, Params
from telegram_emulator.send_options import link_preview_options, send_options
from telegram_emulator.sent import SentMessage
from telegram_emulator.state import ChatState, EmulatorState
from telegram_emulator.text_entities import FormattedText
from telegram_emulator.updates import unix_now

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


class MessageMethods:
    def __init__(self, state: EmulatorState, outbox: Outbox) -> None:
        self._state = state
        self._outbox = outbox

    def handlers(self) -> dict[str, MethodHandler]:
        return {
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "sendChatAction": self.send_chat_action,
        }

    async def send_message(self, params: Params) -> JSON:
        chat = self._outbox.chat(params)
        text = params.optional_str("text")
        formatted = validation.message_text(
            text,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("entities"),
        )
        options = send_options(params)
        preview = link_preview_options(params)
        self._outbox.admit(chat, params)
        content = Content(
            formatted,
            text=text,
            parse_mode=params.optional_str("parse_mode"),
            link_preview_options=preview,
        )
        [message] = self._outbox.deliver(chat, "sendMessage", [content], options)
        return message

    async def edit_message_text(self, params: Params) -> JSON:
        chat, message = self._message_to_edit(params)
        if message.media is not None:
            raise bad_request("there is no text in the message to edit")
        text = params.optional_str("text")
        formatted = validation.message_text(
            text,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("entities"),
        )
        markup = keyboards.reply_markup(params.optional_object("reply_markup"))
        self._check_modified(message, formatted, markup)
        self._snapshot(message)
        message.text, message.formatted, message.reply_markup = text, formatted, markup
        message.parse_mode = params.optional_str("parse_mode")
        return self._edited(chat, message)

    async def edit_message_caption(self, params: Params) -> JSON:
        chat, message = self._message_to_edit(params)
        if message.media is None:
            raise bad_request("there is no caption in the message to edit")
        caption = params.optional_str("caption")
        formatted = validation.caption_text(
            caption,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("caption_entities"),
        ) or FormattedText("")
        markup = keyboards.reply_markup(params.optional_object("reply_markup"))
        self._check_modified(message, formatted, markup)
        self._snapshot(message)
        message.caption, message.formatted, message.reply_markup = caption, formatted, markup
        message.parse_mode = params.optional_str("parse_mode")
        return self._edited(chat, message)

    async def edit_message_reply_markup(self, params: Params) -> JSON:
        chat, message = self._message_to_edit(params)
        markup = keyboards.reply_markup(params.optional_object("reply_markup"))
        self._check_modified(message, message.formatted, markup)
        self._snapshot(message)
        message.reply_markup = markup
        return self._edited(chat, message)

    async def delete_message(self, params: Params) -> JSON:
        chat = self._outbox.chat(params)
        message_id = params.require_int("message_id")
        sent = chat.sent.get(message_id)
        if sent is not None and not sent.deleted:
            sent.deleted = True
        elif chat.incoming.pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        self._state.messages_changed.notify()
        return True

    async def send_chat_action(self, params: Params) -> JSON:
        self._outbox.reachable(self._outbox.chat(params))
        if params.optional_str("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _message_to_edit(self, params: Params) -> tuple[ChatState, SentMessage]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the emulator")
        chat = self._outbox.reachable(self._outbox.chat(params))
        message = chat.sent.get(params.require_int("message_id"))
        if message is None or message.deleted:
            raise bad_request("message to edit not found")
        return chat, message

    @staticmethod
    def _check_modified(
        message: SentMessage, formatted: FormattedText, markup: JSONObject | None
    ) -> None:
        if formatted == message.formatted and markup == message.reply_markup:
            raise bad_request(NOT_MODIFIED)

    @staticmethod
    def _snapshot(message: SentMessage) -> None:
        message.history.append(message.snapshot(time.monotonic()))

    def _edited(self, chat: ChatState, message: SentMessage) -> JSON:
        message.edit_date = unix_now()
        self._state.messages_changed.notify()
        return bot_message(message, chat, self._state.bot_user)
