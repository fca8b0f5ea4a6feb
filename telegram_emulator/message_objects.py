"""The Bot API `Message` of a message the bot sent, and the file objects inside it."""

from telegram_emulator.files import PHOTO_SIZES, MediaKind, StoredFile
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.records import EmulatedUser
from telegram_emulator.sent import SentMedia, SentMessage
from telegram_emulator.state import ChatState


def photo_sizes(stored: StoredFile) -> list[JSON]:
    """The PhotoSize list Telegram returns for a photo: a thumbnail, then the full size."""
    sizes: list[JSON] = []
    for (file_id, unique_id), (width, height, size) in zip(
        stored.photo_size_ids(), PHOTO_SIZES, strict=True
    ):
        full_size = size if width != PHOTO_SIZES[-1][0] else stored.size or size
        photo_size: JSONObject = {"file_id": file_id, "file_unique_id": unique_id}
        photo_size |= {"width": width, "height": height, "file_size": full_size}
        sizes.append(photo_size)
    return sizes


def file_object(media: SentMedia) -> JSONObject:
    """The Video, Animation, Document, Audio or Voice object of a message's file."""
    stored = media.file
    found: JSONObject = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
    found.update(media.attributes)
    optional: JSONObject = {"file_name": stored.file_name, "mime_type": stored.mime_type}
    if media.kind is MediaKind.VOICE:
        optional.pop("file_name")
    found.update({key: value for key, value in optional.items() if value is not None})
    if stored.size:
        found["file_size"] = stored.size
    return found


def _media_fields(media: SentMedia) -> JSONObject:
    fields: JSONObject = {}
    if media.kind is MediaKind.PHOTO:
        fields["photo"] = photo_sizes(media.file)
    else:
        fields[media.kind.value] = file_object(media)
    if media.kind is MediaKind.ANIMATION:
        # "For backward compatibility, when this field is set, the document field will also
        # be set" (the Bot API's Message.animation).
        document = file_object(media)
        for attribute in media.attributes:
            document.pop(attribute, None)
        fields["document"] = document
    if media.has_spoiler:
        fields["has_media_spoiler"] = True
    return fields


def bot_message(sent: SentMessage, chat: ChatState, bot_user: EmulatedUser) -> JSONObject:
    """The `Message` object Telegram returns for (or later shows of) a message the bot sent."""
    message: JSONObject = {
        "message_id": sent.message_id,
        "from": bot_user.to_json(),
        "chat": chat.to_json(),
        "date": sent.date,
    }
    formatted = sent.formatted
    entities: list[JSON] = list(formatted.entities)
    if sent.media_group_id is not None:
        message["media_group_id"] = sent.media_group_id
    if sent.protect_content:
        message["has_protected_content"] = True
    if sent.message_effect_id is not None:
        message["effect_id"] = sent.message_effect_id
    if sent.media is not None:
        message.update(_media_fields(sent.media))
        if formatted.text:
            message["caption"] = formatted.text
            if entities:
                message["caption_entities"] = entities
        if sent.show_caption_above_media:
            message["show_caption_above_media"] = True
    else:
        message["text"] = formatted.text
        if entities:
            message["entities"] = entities
        if sent.link_preview_options is not None:
            message["link_preview_options"] = sent.link_preview_options
    if sent.edit_date is not None:
        message["edit_date"] = sent.edit_date
    if sent.reply_markup is not None and "inline_keyboard" in sent.reply_markup:
        message["reply_markup"] = sent.reply_markup
    return message


def photo_content(stored: StoredFile, caption: str | None) -> JSONObject:
    """A photo a user sends (sizes as Telegram gives them), with its caption."""
    content: JSONObject = {"photo": photo_sizes(stored)}
    if caption:
        content["caption"] = caption
    return content
