"""Bot API methods that send files: a photo, video, animation, document, audio or voice
with a caption, and an album of them (sendMediaGroup).

Each file is an upload, a URL (recorded, never fetched) or a file_id the emulator issued
(`media_input`); the message answered carries the file's new or reused file_id, for the
bot to send it again without uploading. A caption is at most 1024 characters once its
markup is parsed; has_spoiler and show_caption_above_media apply to photos, videos and
animations. An album delivers 2-10 messages sharing a media_group_id, as one send.
"""

from telegram_emulator import validation
from telegram_emulator.album import read_album
from telegram_emulator.errors import bad_request
from telegram_emulator.files import MediaKind
from telegram_emulator.json_types import JSON, JSONList
from telegram_emulator.media_input import SPOILER_KINDS, media_attributes, read_media
from telegram_emulator.outbox import Content, Outbox
from telegram_emulator.params import MethodHandler, Params
from telegram_emulator.send_options import send_options
from telegram_emulator.state import EmulatorState
from telegram_emulator.text_entities import FormattedText

METHODS = {kind: f"send{kind.value.title()}" for kind in MediaKind}
"""The method that sends each kind: sendPhoto, sendVideo, ..., sendVoice."""


class MediaMethods:
    def __init__(self, state: EmulatorState, outbox: Outbox) -> None:
        self._state = state
        self._outbox = outbox

    def handlers(self) -> dict[str, MethodHandler]:
        handlers: dict[str, MethodHandler] = {
            method: self._sender(kind) for kind, method in METHODS.items()
        }
        handlers["sendMediaGroup"] = self.send_media_group
        return handlers

    def _sender(self, kind: MediaKind) -> MethodHandler:
        async def send(params: Params) -> JSON:
            return await self.send_media(kind, params)

        return send

    async def send_media(self, kind: MediaKind, params: Params) -> JSON:
        """sendPhoto, sendVideo, sendAnimation, sendDocument, sendAudio or sendVoice."""
        chat = self._outbox.chat(params)
        field = kind.value
        missing = bad_request(f"there is no {field} in the request")
        files = self._state.files
        media = read_media(
            kind, params.optional_str(field), params.upload(field), files, missing=missing
        )
        caption = params.optional_str("caption")
        formatted = validation.caption_text(
            caption,
            parse_mode=params.optional_str("parse_mode"),
            entities=params.optional_list("caption_entities"),
        )
        options = send_options(params)
        self._outbox.admit(chat, params)
        sent = media.keep(
            files,
            has_spoiler=params.flag("has_spoiler"),
            attributes=media_attributes(kind, params.get),
        )
        content = Content(
            formatted or FormattedText(""),
            caption=caption,
            parse_mode=params.optional_str("parse_mode"),
            media=sent,
            show_caption_above_media=params.flag("show_caption_above_media")
            and kind in SPOILER_KINDS,
        )
        [message] = self._outbox.deliver(chat, METHODS[kind], [content], options)
        return message

    async def send_media_group(self, params: Params) -> JSON:
        """An album: 2-10 messages sharing a media_group_id, answered as a list of them."""
        chat = self._outbox.chat(params)
        album = read_album(params, self._state.files)
        options = send_options(params, with_markup=False)
        self._outbox.admit(chat, params)
        contents = [
            Content(
                item.formatted,
                caption=item.caption,
                parse_mode=item.parse_mode,
                media=media.keep(
                    self._state.files, has_spoiler=item.has_spoiler, attributes=item.attributes
                ),
                show_caption_above_media=item.show_caption_above_media,
            )
            for item, media in album
        ]
        group_id = self._state.new_media_group_id()
        messages: JSONList = list(
            self._outbox.deliver(chat, "sendMediaGroup", contents, options, media_group_id=group_id)
        )
        return messages
