"""Input checks Telegram makes before accepting a message, keyboard or command list."""

import re

from telegram_emulator.errors import bad_request
from telegram_emulator.html_markup import parse_html
from telegram_emulator.json_types import JSON, JSONList, JSONObject
from telegram_emulator.markdown_markup import parse_markdown_v2
from telegram_emulator.text_entities import FormattedText

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_BUTTON_URL_SCHEMES = ("http://", "https://", "tg://")


def format_text(source: str, *, parse_mode: str | None, entities: JSONList | None) -> FormattedText:
    """Apply `entities` or `parse_mode` the way Telegram does (explicit entities win)."""
    if entities is not None:
        if not all(isinstance(entity, dict) for entity in entities):
            raise bad_request("can't parse entities JSON object")
        return FormattedText(source, [entity for entity in entities if isinstance(entity, dict)])
    mode = (parse_mode or "").lower()
    if mode == "html":
        return parse_html(source)
    if mode == "markdownv2":
        return parse_markdown_v2(source)
    if mode in {"", "markdown"}:
        return FormattedText(source)
    raise bad_request(f"unsupported parse_mode {parse_mode}")


def message_text(
    source: str | None, *, parse_mode: str | None, entities: JSONList | None
) -> FormattedText:
    """A message text: present, parseable, and at most 4096 characters once parsed."""
    if source is None or not source.strip():
        raise bad_request("message text is empty")
    formatted = format_text(source, parse_mode=parse_mode, entities=entities)
    if not formatted.text.strip():
        raise bad_request("message text is empty")
    if formatted.length > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return formatted


def caption_text(
    source: str | None, *, parse_mode: str | None, entities: JSONList | None
) -> FormattedText | None:
    """An optional caption: parseable and at most 1024 characters once parsed."""
    if source is None:
        return None
    formatted = format_text(source, parse_mode=parse_mode, entities=entities)
    if formatted.length > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return formatted


def _rows(markup: JSONObject, key: str) -> list[JSONList]:
    rows = markup.get(key)
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    return [row for row in rows if isinstance(row, list)]


def _check_inline_button(button: JSON) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse inline keyboard button: Text is not specified")
    data, url = button.get("callback_data"), button.get("url")
    if data is None and url is None and len(button) == 1:
        raise bad_request("can't parse inline keyboard button: Text buttons are unallowed")
    if data is not None and (
        not isinstance(data, str) or not 0 < len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
    ):
        raise bad_request("BUTTON_DATA_INVALID")
    if url is not None and (not isinstance(url, str) or not url.startswith(_BUTTON_URL_SCHEMES)):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _check_reply_button(button: JSON) -> None:
    if isinstance(button, str):
        return
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request("can't parse keyboard button: Text is not specified")


def reply_markup(markup: JSONObject | None) -> JSONObject | None:
    """Check one of the four reply_markup shapes; return it unchanged."""
    if markup is None:
        return None
    if "inline_keyboard" in markup:
        for row in _rows(markup, "inline_keyboard"):
            for inline_button in row:
                _check_inline_button(inline_button)
    elif "keyboard" in markup:
        for row in _rows(markup, "keyboard"):
            for button in row:
                _check_reply_button(button)
    elif markup.get("remove_keyboard") is not True and markup.get("force_reply") is not True:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return markup


def bot_commands(commands: JSONList | None) -> list[JSONObject]:
    """setMyCommands input: 1-32 chars of [a-z0-9_] and a 1-256 char description each."""
    checked: list[JSONObject] = []
    for command in commands or []:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not _COMMAND.fullmatch(name.removeprefix("/")):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 0 < len(description) <= 256:
            raise bad_request("command description is empty or too long")
        checked.append({"command": name.removeprefix("/"), "description": description})
    return checked
