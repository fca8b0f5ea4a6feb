"""Input checks Telegram makes before accepting a text, a caption or a command list
(keyboards: `keyboards`; link previews and effects: `send_options`)."""

import re

from telegram_emulator.errors import bad_request
from telegram_emulator.html_markup import parse_html
from telegram_emulator.json_types import JSONList, JSONObject
from telegram_emulator.markdown_markup import parse_markdown_v2
from telegram_emulator.text_entities import FormattedText

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
# What TDLib's strip_empty_characters counts as nothing besides white space: zero-width
# and direction marks, the Mongolian vowel separator, the Braille blank, the byte order
# mark, the object replacement character (and, in _empty_character, the tag characters).
_EMPTY_CHARACTERS = frozenset("\u180e\u200b\u200c\u200d\u200e\u200f\u202e\u2800\ufeff\ufffc")


def _empty_character(char: str) -> bool:
    """Whether Telegram ignores `char` when it decides a text is empty ("⠀" alone is)."""
    return char.isspace() or char in _EMPTY_CHARACTERS or "\U000e0000" <= char <= "\U000e00ff"


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
    if all(map(_empty_character, formatted.text)):
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
    return check_caption(format_text(source, parse_mode=parse_mode, entities=entities))


def check_caption(formatted: FormattedText) -> FormattedText:
    """A parsed caption is at most 1024 characters (UTF-16 code units, as Telegram counts)."""
    if formatted.length > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return formatted


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
