"""Bot API methods that put things in chats: send, edit, delete messages, chat actions."""

import time

from telegram_emulator import validation
from telegram_emulator.errors import bad_request, chat_not_found, forbidden, too_many_requests
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.limits import RateLimiter
from telegram_emulator.params import MethodHandler, Params, Upload
from telegram_emulator.records import SentMessage
from telegram_emulator.state import ChatState, EmulatorState
from telegram_emulator.text_entities import FormattedText
from telegram_emulator.updates import PHOTO_SIZES, bot_message, photo_size_file_id, unix_now

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
    def __init__(self, state: EmulatorState, limiter: RateLimiter) -> None:
        self._state = state
        self._limiter = limiter

    def handlers(self) -> dict[str, MethodHandler]:
        return {
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "sendChatAction": self.send_chat_action,
        }

    async def send_message(self, params: Params) -> JSON:
        chat = self._chat(params)
        text = params.optional_str("text")
        formatted = validation.message_text(
            text,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("entities"),
        )
        markup = validation.reply_markup(params.optional_object("reply_markup"))
        self._check_reply_target(chat, params)
        self._admit(chat, params)
        return self._store(
            chat,
            params,
            formatted=formatted,
            markup=markup,
            text=text,
            link_preview_options=params.optional_object("link_preview_options"),
        )

    async def send_photo(self, params: Params) -> JSON:
        chat = self._chat(params)
        caption, formatted, markup = self._caption_and_markup(params)
        file_id, source = self._photo(params)
        self._check_reply_target(chat, params)
        self._admit(chat, params)
        upload = params.upload("photo")
        return self._store(
            chat,
            params,
            formatted=formatted,
            markup=markup,
            caption=caption,
            photo=file_id,
            photo_source=source,
            upload=upload,
        )

    async def send_document(self, params: Params) -> JSON:
        """A file: uploaded (kept, for tests to read) or a file_id the emulator issued."""
        chat = self._chat(params)
        caption, formatted, markup = self._caption_and_markup(params)
        upload = params.upload("document")
        if upload is not None and not upload.content:
            raise bad_request("file must be non-empty")
        if upload is None and params.optional_str("document") not in self._state.file_ids:
            raise bad_request("there is no document in the request")
        self._check_reply_target(chat, params)
        self._admit(chat, params)
        file_id = params.optional_str("document") if upload is None else None
        if file_id is None:
            file_id = self._state.new_file_id()
            self._state.file_ids.add(file_id)
        return self._store(
            chat,
            params,
            formatted=formatted,
            markup=markup,
            caption=caption,
            document=file_id,
            upload=upload,
        )

    @staticmethod
    def _caption_and_markup(
        params: Params,
    ) -> tuple[str | None, FormattedText, JSONObject | None]:
        """A photo's or document's caption (validated, empty when absent) and buttons."""
        caption = params.optional_str("caption")
        formatted = validation.caption_text(
            caption,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("caption_entities"),
        )
        markup = validation.reply_markup(params.optional_object("reply_markup"))
        return caption, formatted or FormattedText(""), markup

    async def edit_message_text(self, params: Params) -> JSON:
        chat, message = self._message_to_edit(params)
        if message.photo is not None or message.document is not None:
            raise bad_request("there is no text in the message to edit")
        text = params.optional_str("text")
        formatted = validation.message_text(
            text,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("entities"),
        )
        markup = validation.reply_markup(params.optional_object("reply_markup"))
        self._check_modified(message, formatted, markup)
        self._snapshot(message)
        message.text, message.formatted, message.reply_markup = text, formatted, markup
        message.parse_mode = params.optional_str("parse_mode")
        return self._edited(chat, message)

    async def edit_message_caption(self, params: Params) -> JSON:
        chat, message = self._message_to_edit(params)
        if message.photo is None and message.document is None:
            raise bad_request("there is no caption in the message to edit")
        caption = params.optional_str("caption")
        formatted = validation.caption_text(
            caption,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("caption_entities"),
        ) or FormattedText("")
        markup = validation.reply_markup(params.optional_object("reply_markup"))
        self._check_modified(message, formatted, markup)
        self._snapshot(message)
        message.caption, message.formatted, message.reply_markup = caption, formatted, markup
        message.parse_mode = params.optional_str("parse_mode")
        return self._edited(chat, message)

    async def edit_message_reply_markup(self, params: Params) -> JSON:
        chat, message = self._message_to_edit(params)
        markup = validation.reply_markup(params.optional_object("reply_markup"))
        self._check_modified(message, message.formatted, markup)
        self._snapshot(message)
        message.reply_markup = markup
        return self._edited(chat, message)

    async def delete_message(self, params: Params) -> JSON:
        chat = self._chat(params)
        message_id = params.require_int("message_id")
        sent = chat.sent.get(message_id)
        if sent is not None and not sent.deleted:
            sent.deleted = True
        elif chat.incoming.pop(message_id, None) is None:
            raise bad_request("message to delete not found")
        self._state.messages_changed.notify()
        return True

    async def send_chat_action(self, params: Params) -> JSON:
        self._reachable(self._chat(params))
        if params.optional_str("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    def _chat(self, params: Params) -> ChatState:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise bad_request("chat_id is empty")
        chat = self._state.chat(chat_id) if isinstance(chat_id, int) else None
        if chat is None:
            raise chat_not_found()
        return chat

    @staticmethod
    def _reachable(chat: ChatState) -> ChatState:
        if chat.user.deactivated:
            raise forbidden("user is deactivated")
        if chat.user.blocked:
            raise forbidden("bot was blocked by the user")
        return chat

    def _admit(self, chat: ChatState, params: Params) -> None:
        """A valid send takes a flood-limit slot, then must reach the user."""
        paid = params.flag("allow_paid_broadcast")
        retry_after = self._limiter.acquire(chat.id, paid=paid, now=params.received_at)
        if retry_after is not None:
            raise too_many_requests(retry_after)
        self._reachable(chat)

    @staticmethod
    def _check_reply_target(chat: ChatState, params: Params) -> None:
        reply = params.optional_object("reply_parameters") or {}
        target = reply.get("message_id", params.optional_int("reply_to_message_id"))
        allow = reply.get("allow_sending_without_reply") or params.flag(
            "allow_sending_without_reply"
        )
        if isinstance(target, int) and not chat.has_message(target) and not allow:
            raise bad_request("message to be replied not found")

    def _photo(self, params: Params) -> tuple[str, str]:
        """(file_id, what the bot sent: a URL, a known file_id or the uploaded file name)."""
        upload = params.upload("photo")
        if upload is not None:
            if not upload.content:
                raise bad_request("file must be non-empty")
            source = f"upload:{upload.filename}"
        else:
            source = params.optional_str("photo") or ""
            if not source:
                raise bad_request("there is no photo in the request")
            if source in self._state.file_ids:
                return source, source
            if not source.startswith(("http://", "https://")):
                raise bad_request("wrong file identifier/HTTP URL specified")
        file_id = self._state.new_file_id()
        self._state.file_ids.add(file_id)
        self._state.file_ids.update(photo_size_file_id(file_id, size[0]) for size in PHOTO_SIZES)
        return file_id, source

    def _store(
        self,
        chat: ChatState,
        params: Params,
        *,
        formatted: FormattedText,
        markup: JSONObject | None,
        text: str | None = None,
        caption: str | None = None,
        photo: str | None = None,
        photo_source: str | None = None,
        document: str | None = None,
        upload: Upload | None = None,
        link_preview_options: JSONObject | None = None,
    ) -> JSON:
        """Deliver a new message to the chat; return it as the Bot API `Message`."""
        sent = SentMessage(
            message_id=chat.next_message_id(),
            chat_id=chat.id,
            date=unix_now(),
            sent_at=time.monotonic(),
            formatted=formatted,
            text=text,
            caption=caption,
            parse_mode=params.optional_str("parse_mode"),
            photo=photo,
            photo_source=photo_source,
            document=document,
            file_name=None if upload is None else upload.filename,
            file_content=None if upload is None else upload.content,
            reply_markup=markup,
            link_preview_options=link_preview_options,
        )
        self._state.record_sent(sent)
        return bot_message(sent, chat, self._state.bot_user)

    def _message_to_edit(self, params: Params) -> tuple[ChatState, SentMessage]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the emulator")
        chat = self._reachable(self._chat(params))
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
