"""Telegram's HTML parse mode: supported tags only, balanced, turned into entities."""

import html
import re
from dataclasses import dataclass

from telegram_emulator.errors import ApiError, bad_request
from telegram_emulator.json_types import JSON
from telegram_emulator.text_entities import FormattedText, FormattedTextBuilder

_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
}
SUPPORTED_TAGS = frozenset({*_SIMPLE_TAGS, "a", "pre", "blockquote", "tg-emoji"})
_TAG_NAME = re.compile(r"([A-Za-z][A-Za-z0-9-]*)(.*)", re.DOTALL)
_ATTRIBUTE = re.compile(r"""([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")


@dataclass(slots=True)
class _OpenTag:
    name: str
    attributes: dict[str, str]
    start: int


def _parse_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


def _attributes(source: str) -> dict[str, str]:
    return {
        match[1].lower(): html.unescape(match[2] or match[3] or match[4] or "")
        for match in _ATTRIBUTE.finditer(source)
    }


class _HtmlParser:
    def __init__(self, source: str) -> None:
        self._source = source
        self._builder = FormattedTextBuilder()
        self._open: list[_OpenTag] = []

    def parse(self) -> FormattedText:
        source, position = self._source, 0
        while (tag_start := source.find("<", position)) != -1:
            self._builder.append(html.unescape(source[position:tag_start]))
            tag_end = source.find(">", tag_start)
            if tag_end == -1:
                raise _parse_error(f"Unclosed start tag at byte offset {self._byte(tag_start)}")
            tag = source[tag_start + 1 : tag_end]
            if tag.startswith("/"):
                self._close(tag[1:].strip().lower(), tag_start)
            else:
                self._open_tag(tag, tag_start)
            position = tag_end + 1
        self._builder.append(html.unescape(source[position:]))
        if self._open:
            name = self._open[-1].name
            raise _parse_error(f'Can\'t find end tag corresponding to start tag "{name}"')
        return self._builder.build()

    def _byte(self, index: int) -> int:
        return len(self._source[:index].encode())

    def _open_tag(self, tag: str, index: int) -> None:
        match = _TAG_NAME.fullmatch(tag.rstrip("/"))
        name = match[1].lower() if match else tag
        if match is None or name not in SUPPORTED_TAGS:
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {self._byte(index)}')
        attributes = _attributes(match[2])
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise _parse_error('Tag "span" must have class "tg-spoiler"')
        self._open.append(_OpenTag(name, attributes, self._builder.offset))

    def _close(self, name: str, index: int) -> None:
        if not self._open:
            raise _parse_error(f"Unexpected end tag at byte offset {self._byte(index)}")
        tag = self._open.pop()
        if name != tag.name:
            raise _parse_error(
                f"Unmatched end tag at byte offset {self._byte(index)}, "
                f'expected "</{tag.name}>", found "</{name}>"'
            )
        self._emit(tag)

    def _emit(self, tag: _OpenTag) -> None:
        builder, attributes = self._builder, tag.attributes
        parent = self._open[-1] if self._open else None
        if tag.name == "code" and parent is not None and parent.name == "pre":
            language = attributes.get("class", "").removeprefix("language-")
            if language:
                parent.attributes["language"] = language
            return
        extra: dict[str, JSON] = {}
        if tag.name in _SIMPLE_TAGS:
            entity_type = _SIMPLE_TAGS[tag.name]
        elif tag.name == "a":
            if "href" not in attributes:
                return
            entity_type, extra = "text_link", {"url": attributes["href"]}
        elif tag.name == "pre":
            entity_type = "pre"
            if "language" in attributes:
                extra = {"language": attributes["language"]}
        elif tag.name == "blockquote":
            entity_type = "expandable_blockquote" if "expandable" in attributes else "blockquote"
        else:
            emoji_id = attributes.get("emoji-id", "")
            if not _is_emoji_id(emoji_id):
                raise _parse_error("Invalid custom emoji identifier specified")
            entity_type, extra = "custom_emoji", {"custom_emoji_id": emoji_id}
        builder.add_entity(entity_type, tag.start, **extra)


def _is_emoji_id(value: str) -> bool:
    """A custom emoji id as TDLib reads one: a positive int64 in ASCII digits (so neither
    "0", nor "99999999999999999999", nor another script's digits such as "١٢")."""
    return value.isascii() and value.isdigit() and 0 < int(value) < 2**63


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML, raising the 400 "can't parse entities" answer Telegram gives."""
    return _HtmlParser(source).parse()
