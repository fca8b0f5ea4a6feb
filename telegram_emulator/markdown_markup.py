"""Telegram's MarkdownV2 parse mode: escaping rules, balanced markers, entities."""

import re
from dataclasses import dataclass

from telegram_emulator.errors import ApiError, bad_request
from telegram_emulator.text_entities import FormattedText, FormattedTextBuilder

RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_CUSTOM_EMOJI_URL = re.compile(r"tg://emoji\?id=([1-9][0-9]{0,18})")
_MARKERS = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}
_ERROR_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}


@dataclass(slots=True)
class _Open:
    marker: str
    entity_type: str
    start: int
    index: int


def _parse_error(reason: str) -> ApiError:
    return bad_request(f"can't parse entities: {reason}")


class _MarkdownParser:
    def __init__(self, source: str) -> None:
        self._source = source
        self._builder = FormattedTextBuilder()
        self._open: list[_Open] = []
        self._quote_start: int | None = None

    def parse(self) -> FormattedText:
        source, index = self._source, 0
        while index < len(source):
            index = self._step(index)
        self._end_quote()
        if self._open:
            tag = self._open[-1]
            name = _ERROR_NAMES[tag.entity_type]
            raise _parse_error(
                f"Can't find end of {name} entity at byte offset {self._byte(tag.index)}"
            )
        return self._builder.build()

    def _byte(self, index: int) -> int:
        return len(self._source[:index].encode())

    def _step(self, index: int) -> int:
        """Consume one token starting at `index`; return the index after it."""
        source, builder = self._source, self._builder
        char = source[index]
        at_line_start = index == 0 or source[index - 1] == "\n"
        if char == "\\":
            if index + 1 == len(source):
                raise self._reserved(char)
            builder.append(source[index + 1])
            return index + 2
        if char == "`":
            return self._code(index)
        for marker in ("||", "__", "*", "_", "~"):
            if source.startswith(marker, index):
                self._toggle(marker, index)
                return index + len(marker)
        if source.startswith("![", index):
            self._open.append(_Open("![", "custom_emoji", builder.offset, index))
            return index + 2
        if char == "[":
            self._open.append(_Open("[", "text_link", builder.offset, index))
            return index + 1
        if char == "]":
            return self._link_end(index)
        if char == ">" and at_line_start:
            if self._quote_start is None:
                self._quote_start = builder.offset
            return index + 1
        if char in RESERVED:
            raise self._reserved(char)
        if char == "\n" and not source.startswith(">", index + 1):
            self._end_quote()
        builder.append(char)
        return index + 1

    def _reserved(self, char: str) -> ApiError:
        return _parse_error(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def _toggle(self, marker: str, index: int) -> None:
        if self._open and self._open[-1].marker == marker:
            tag = self._open.pop()
            self._builder.add_entity(tag.entity_type, tag.start)
        else:
            self._open.append(_Open(marker, _MARKERS[marker], self._builder.offset, index))

    def _link_end(self, index: int) -> int:
        source = self._source
        if not self._open or self._open[-1].marker not in {"[", "!["}:
            raise self._reserved("]")
        tag = self._open.pop()
        if tag.marker == "![":
            return self._custom_emoji(tag, index)
        if not source.startswith("(", index + 1):
            raise self._reserved("]")
        url, after = self._until(")", index + 2, "TextUrl")
        self._builder.add_entity("text_link", tag.start, url=url)
        return after

    def _custom_emoji(self, tag: _Open, index: int) -> int:
        """`![👍](tg://emoji?id=5368324170671202286)`: a custom emoji over its fallback."""
        if not self._source.startswith("(", index + 1):
            raise _parse_error("The entity must contain a tg://emoji or tg://time URL")
        url, after = self._until(")", index + 2, "CustomEmoji")
        emoji_id = _CUSTOM_EMOJI_URL.fullmatch(url)
        if emoji_id is None:
            raise _parse_error("Invalid tg://emoji or tg://time URL specified")
        self._builder.add_entity("custom_emoji", tag.start, custom_emoji_id=emoji_id[1])
        return after

    def _code(self, index: int) -> int:
        source, builder = self._source, self._builder
        if source.startswith("```", index):
            body, after = self._until("```", index + 3, "Pre")
            first_line, newline, rest = body.partition("\n")
            language = first_line if newline and first_line and " " not in first_line else ""
            start = builder.offset
            builder.append(rest if language else body)
            if language:
                builder.add_entity("pre", start, language=language)
            else:
                builder.add_entity("pre", start)
            return after
        body, after = self._until("`", index + 1, "Code")
        start = builder.offset
        builder.append(body)
        builder.add_entity("code", start)
        return after

    def _until(self, terminator: str, index: int, entity_name: str) -> tuple[str, int]:
        """Read escaped text up to `terminator`; return the text and the index after it."""
        source, parts, start = self._source, [], index
        while index < len(source):
            if source[index] == "\\" and index + 1 < len(source):
                parts.append(source[index + 1])
                index += 2
            elif source.startswith(terminator, index):
                return "".join(parts), index + len(terminator)
            else:
                parts.append(source[index])
                index += 1
        byte = self._byte(start - 1)
        raise _parse_error(f"Can't find end of {entity_name} entity at byte offset {byte}")

    def _end_quote(self) -> None:
        if self._quote_start is not None:
            self._builder.add_entity("blockquote", self._quote_start)
            self._quote_start = None


def parse_markdown_v2(source: str) -> FormattedText:
    """Parse MarkdownV2, raising the 400 "can't parse entities" answer Telegram gives."""
    return _MarkdownParser(source).parse()
