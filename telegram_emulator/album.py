"""sendMediaGroup's `media`: an album's items, checked in the order Telegram checks them.

1. Each InputMedia is read (the Bot API server): its caption's markup, its type, its file;
   a mistake is "can't parse InputMedia: ..." (an animation: "type "animation" can't be
   used in sendMediaGroup").
2. The album as a whole (TDLib): none ("there are no messages to send"), a caption over
   1024 characters, more than 10 ("too many messages to send as an album"), different
   show_caption_above_media, documents or audio mixed with anything else ("document can't
   be mixed with other media types"). Photos and videos mix; a caption may go on any item.
   One item is refused too: the Bot API documents 2-10 ("media must include 2-10 items",
   the emulator's words: Telegram sends a lone item as an ordinary message).
3. Each file is found: one Telegram cannot get fails the album as "failed to send message
   #N with the error message ...".
"""

from dataclasses import dataclass

from telegram_emulator import validation
from telegram_emulator.errors import ApiError, SendFailedError, album_item_failed, bad_request
from telegram_emulator.files import FileStore, MediaKind
from telegram_emulator.json_types import JSON, JSONObject
from telegram_emulator.media_input import (
    SPOILER_KINDS,
    MediaInput,
    media_attributes,
    read_media,
)
from telegram_emulator.params import Params
from telegram_emulator.text_entities import FormattedText

MIN_ALBUM_ITEMS = 2
MAX_ALBUM_ITEMS = 10
ALBUM_KINDS = frozenset({MediaKind.PHOTO, MediaKind.VIDEO, MediaKind.DOCUMENT, MediaKind.AUDIO})
MEDIA_NOT_FOUND = "media not found"
_ALONE_KINDS = (MediaKind.DOCUMENT, MediaKind.AUDIO)
"""Kinds an album may hold only with their own kind."""


@dataclass(frozen=True, slots=True)
class AlbumItem:
    """One InputMedia as read in step 1 (its file is found in step 3)."""

    kind: MediaKind
    value: str
    caption: str | None
    parse_mode: str | None
    formatted: FormattedText
    show_caption_above_media: bool
    has_spoiler: bool
    attributes: JSONObject


def _unparsable(reason: str) -> ApiError:
    return bad_request(f"can't parse InputMedia: {reason}")


def _flag(entry: JSONObject, name: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise _unparsable(f'Field "{name}" must be of type Boolean')
    return value


def _text(entry: JSONObject, name: str) -> str | None:
    value = entry.get(name)
    if value is not None and not isinstance(value, str):
        raise _unparsable(f'Field "{name}" must be of type String')
    return value


def _caption(entry: JSONObject, parse_mode: str | None) -> FormattedText:
    entities = entry.get("caption_entities")
    if entities is not None and not isinstance(entities, list):
        raise _unparsable('Field "caption_entities" must be of type Array')
    try:
        return validation.format_text(
            _text(entry, "caption") or "", parse_mode=parse_mode, entities=entities
        )
    except ApiError as error:
        reason = error.description.removeprefix("Bad Request: ")
        raise _unparsable(reason[0].upper() + reason[1:]) from error


def _item(entry: JSON, params: Params) -> AlbumItem:
    """Step 1 for one InputMedia."""
    if not isinstance(entry, dict):
        raise _unparsable("expected an Object")
    parse_mode = _text(entry, "parse_mode")
    formatted = _caption(entry, parse_mode)
    above, spoiler = _flag(entry, "show_caption_above_media"), _flag(entry, "has_spoiler")
    type_name = _text(entry, "type")
    if type_name is None:
        raise _unparsable('Can\'t find field "type"')
    value = _text(entry, "media") or ""
    if not value or (value.startswith("attach://") and params.attached(value) is None):
        raise _unparsable(MEDIA_NOT_FOUND)
    if type_name == MediaKind.ANIMATION:
        raise _unparsable(f'type "{type_name}" can\'t be used in sendMediaGroup')
    if type_name not in ALBUM_KINDS:
        raise _unparsable(f'type "{type_name}" is unsupported')
    kind = MediaKind(type_name)
    return AlbumItem(
        kind=kind,
        value=value,
        caption=_text(entry, "caption"),
        parse_mode=parse_mode,
        formatted=formatted,
        show_caption_above_media=above and kind in SPOILER_KINDS,
        has_spoiler=spoiler,
        attributes=media_attributes(kind, entry.get),
    )


def _check_album(items: list[AlbumItem]) -> None:
    """Step 2."""
    if not items:
        raise bad_request("there are no messages to send")
    for item in items:
        validation.check_caption(item.formatted)
    if len(items) > MAX_ALBUM_ITEMS:
        raise bad_request("too many messages to send as an album")
    if len(items) < MIN_ALBUM_ITEMS:
        raise bad_request(f"media must include {MIN_ALBUM_ITEMS}-{MAX_ALBUM_ITEMS} items")
    if len({item.show_caption_above_media for item in items}) > 1:
        raise bad_request("parameter show_caption_above_media must be the same for all messages")
    kinds = [item.kind for item in items]
    if len(set(kinds)) > 1:
        alone = next((kind for kind in kinds if kind in _ALONE_KINDS), None)
        if alone is not None:
            raise bad_request(f"{alone.value} can't be mixed with other media types")


def read_album(params: Params, files: FileStore) -> list[tuple[AlbumItem, MediaInput]]:
    """The album `media` describes, with every item's file found (none stored yet)."""
    raw = params.get("media")
    if raw is None or raw == "":
        raise bad_request('parameter "media" is required')
    if isinstance(raw, str):
        raise bad_request("can't parse media JSON object")
    if not isinstance(raw, list):
        raise bad_request("expected an Array of InputMedia")
    items = [_item(entry, params) for entry in raw]
    _check_album(items)
    found = []
    for position, item in enumerate(items, start=1):
        upload, missing = params.attached(item.value), _unparsable(MEDIA_NOT_FOUND)
        try:
            found.append((item, read_media(item.kind, item.value, upload, files, missing=missing)))
        except SendFailedError as error:
            raise album_item_failed(position, error) from error
    return found
