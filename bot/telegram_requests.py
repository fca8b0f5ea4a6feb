"""An `OutgoingMessage` as a Bot API request, and the file ids in its answer.

Text goes by sendMessage (with link_preview_options), one media item by its own method
(sendPhoto, sendVideo, sendAnimation, sendDocument, sendAudio, sendVoice) with the text
as its caption, an album by sendMediaGroup (the caption on its first item; Telegram's
albums carry no buttons). Buttons go in their rows. A local file is a multipart part
(`attach://` in an album); everything else is one JSON body.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broadcasts.messenger import Button, LinkPreview, MediaKind, OutgoingMessage

METHODS = {kind: f"send{kind.value.capitalize()}" for kind in MediaKind}


@dataclass(frozen=True, slots=True)
class Upload:
    """A local file a request carries as its multipart part `field`."""

    path: Path
    sha256: str | None


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    params: dict[str, Any]
    uploads: dict[str, Upload] = field(default_factory=dict)  # part name -> file


def request(message: OutgoingMessage) -> Request:
    params: dict[str, Any] = {"chat_id": message.chat_id, "parse_mode": "HTML"}
    if message.protect_content:
        params["protect_content"] = True
    if message.effect_id is not None:
        params["message_effect_id"] = message.effect_id
    if message.paid:
        params["allow_paid_broadcast"] = True
    if message.is_album:
        return _album(message, params)
    if message.keyboard:
        params["reply_markup"] = {
            "inline_keyboard": [[_button(b) for b in row] for row in message.keyboard]
        }
    if not message.media:
        params["text"] = message.text
        if message.link_preview is not None:
            params["link_preview_options"] = _preview(message.link_preview)
        return Request("sendMessage", params)
    item = message.media[0]
    if message.text:
        params["caption"] = message.text
    uploads = {}
    if item.local:
        uploads[item.kind.value] = Upload(Path(item.ref), item.sha256)
    else:
        params[item.kind.value] = item.ref
    return Request(METHODS[item.kind], params, uploads)


def _album(message: OutgoingMessage, params: dict[str, Any]) -> Request:
    media, uploads = [], {}
    for number, item in enumerate(message.media):
        entry: dict[str, Any] = {"type": item.kind.value, "media": item.ref}
        if item.local:
            name = f"file{number}"
            entry["media"] = f"attach://{name}"
            uploads[name] = Upload(Path(item.ref), item.sha256)
        if number == 0 and message.text:
            entry |= {"caption": message.text, "parse_mode": "HTML"}
        media.append(entry)
    params.pop("parse_mode")
    return Request("sendMediaGroup", params | {"media": media}, uploads)


def form_value(value: object) -> str:
    """A parameter as a multipart form field carries it: objects and arrays as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def file_ids(result: object) -> tuple[str, ...]:
    """The file id of each media item of the message(s) a send answered with, in order."""
    messages = result if isinstance(result, list) else [result]
    found = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        for kind in MediaKind:
            file_id = _file_id(message.get(kind.value))
            if file_id is not None:
                found.append(file_id)
                break
    return tuple(found)


def _file_id(media: object) -> str | None:
    if isinstance(media, list) and media:  # a photo's sizes, the largest last
        media = media[-1]
    if isinstance(media, dict) and isinstance(media.get("file_id"), str):
        return str(media["file_id"])
    return None


def _button(button: Button) -> dict[str, Any]:
    if button.url is not None:
        return {"text": button.text, "url": button.url}
    if button.copy_text is not None:
        return {"text": button.text, "copy_text": {"text": button.copy_text}}
    if button.web_app is not None:
        return {"text": button.text, "web_app": {"url": button.web_app}}
    return {"text": button.text, "callback_data": button.data or ""}


def _preview(preview: LinkPreview) -> dict[str, Any]:
    if preview.disabled:
        return {"is_disabled": True}
    options: dict[str, Any] = {"show_above_text": preview.above}
    if preview.url is not None:
        options["url"] = preview.url
    if preview.size is not None:
        options[f"prefer_{preview.size}_media"] = True
    return options
