"""Telegram's HTML parse mode as the Bot API accepts it: which tags, which entities, and
how long a message is once its markup is gone (what the 4096/1024 limits count).

Checked here, before sending, so a campaign with markup Telegram would refuse is refused
when it is saved rather than failing for every subscriber.
"""

import html
import re

from core.errors import SegbotError
from core.unstorable import LONE_SURROGATE

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024

# Link targets Telegram opens: web pages and tg:// links (no javascript:, data:, file:).
_LINK = re.compile(r"(?:https?|tg)://\S", re.IGNORECASE)
# Tags and the attributes each may carry (https://core.telegram.org/bots/api#html-style).
_TAGS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("b", "strong", "i", "em", "u", "ins", "s", "strike", "del"), frozenset()),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-emoji": frozenset({"emoji-id"}),
}
# A tag: its name, then a `/` or (after white space) everything up to `>`. No two parts
# of the pattern can match the same characters, so a long unclosed tag costs linear time.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*|/)?)>")
_ATTRIBUTE = re.compile(r"""([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
# Characters besides white space that Telegram counts as nothing when it decides whether
# a text is empty (TDLib's strip_empty_characters): zero-width and direction marks, the
# Mongolian vowel separator, the Braille blank, the byte order mark, the object
# replacement character; and the Unicode tag characters (U+E0000-U+E00FF).
_INVISIBLE = frozenset("\u180e\u200b\u200c\u200d\u200e\u200f\u202e\u2800\ufeff\ufffc")
_SURROGATE = re.compile(LONE_SURROGATE)
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#x[0-9A-Fa-f]+);")


class TelegramHtmlError(SegbotError):
    """Markup Telegram would refuse: an unsupported or unclosed tag, a stray `<` or `&`."""


class LinkTargetError(TelegramHtmlError):
    """An `<a href>` that is no link Telegram opens (not http://, https:// or tg://)."""


class MessageTooLongError(SegbotError):
    """The message, markup removed, is longer than Telegram allows."""


class EmptyMessageError(TelegramHtmlError):
    """A text message that shows nothing once its markup is removed (`<b> </b>`, a Braille
    blank): Telegram refuses it ("message text is empty") though its source is not blank."""


def plain_text(markup: str) -> str:
    """What the subscriber sees of `markup`; TelegramHtmlError if Telegram would refuse it."""
    surrogate = _SURROGATE.search(markup)
    if surrogate:  # it cannot be written as UTF-8, so it cannot be sent
        raise TelegramHtmlError(
            f"character {surrogate.start() + 1} is a lone surrogate (\\ud800-\\udfff), "
            "half of a character"
        )
    parts: list[str] = []
    open_tags: list[str] = []
    position = 0
    for tag in _TAG.finditer(markup):
        parts.append(_text(markup[position : tag.start()], position))
        closing, name, attributes = tag.group(1, 2, 3)
        name = name.lower()
        self_closing = attributes.rstrip().endswith("/")
        if name not in _TAGS or self_closing:
            raise TelegramHtmlError(f"Telegram does not support the tag <{closing}{name}>")
        if closing:
            if attributes.strip():
                raise TelegramHtmlError(
                    f"</{name}{attributes}>: a closing tag has nothing after its name"
                )
            if not open_tags or open_tags[-1] != name:
                expected = f"</{open_tags[-1]}>" if open_tags else "no closing tag"
                raise TelegramHtmlError(f"</{name}> does not close anything here: {expected}")
            open_tags.pop()
        else:
            _check_attributes(name, attributes)
            open_tags.append(name)
        position = tag.end()
    parts.append(_text(markup[position:], position))
    if open_tags:
        raise TelegramHtmlError(f"<{open_tags[-1]}> is never closed")
    return "".join(parts)


def check_length(markup: str, *, caption: bool) -> None:
    """MessageTooLongError past 4096 characters (1024 for a media caption), counted as
    Telegram counts them: UTF-16 code units, markup removed; EmptyMessageError for a text
    message that is only markup, white space and `invisible` characters (Telegram counts
    its 1-4096 the same way, so it refuses it)."""
    limit = CAPTION_LIMIT if caption else TEXT_LIMIT
    text = plain_text(markup)
    if not caption and all(map(invisible, text)):
        raise EmptyMessageError(
            "the message shows nothing (only markup, white space or invisible characters): "
            "Telegram refuses an empty text"
        )
    length = len(text.encode("utf-16-le")) // 2
    if length > limit:
        kind = "a caption" if caption else "a message"
        raise MessageTooLongError(f"{kind} is {length} characters; Telegram allows {limit}")


def invisible(char: str) -> bool:
    """Whether Telegram counts `char` as nothing when it decides a text is empty."""
    return char.isspace() or char in _INVISIBLE or "\U000e0000" <= char <= "\U000e00ff"


def _text(chunk: str, offset: int) -> str:
    """Text between tags: no bare `<`, and `&` only as an entity Telegram knows."""
    if "<" in chunk or ">" in chunk:
        at = offset + min(i for i in (chunk.find("<"), chunk.find(">")) if i >= 0)
        raise TelegramHtmlError(f"a bare < or > at character {at + 1}: write &lt; or &gt;")
    for index in (match.start() for match in re.finditer("&", chunk)):
        if not _ENTITY.match(chunk, index):
            raise TelegramHtmlError(
                f"a bare & at character {offset + index + 1}: write &amp; "
                "(Telegram knows only &lt; &gt; &amp; &quot; and numeric entities)"
            )
    return html.unescape(chunk)


def _check_attributes(name: str, source: str) -> None:
    attributes = {
        match[1].lower(): match[2] or match[3] or match[4] or ""
        for match in _ATTRIBUTE.finditer(source)
    }
    unknown = set(attributes) - _TAGS[name]
    if unknown:
        raise TelegramHtmlError(f"<{name}> cannot have {', '.join(sorted(unknown))}")
    if name == "a":
        _check_href(attributes.get("href", ""))
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise TelegramHtmlError('<span> is only for spoilers: <span class="tg-spoiler">')
    if name == "tg-emoji" and not is_telegram_id(attributes.get("emoji-id", "")):
        raise TelegramHtmlError("<tg-emoji> needs a numeric emoji-id")


def is_telegram_id(value: str) -> bool:
    """Whether Telegram reads `value` as an id (a custom emoji's, a message effect's): a
    positive 64-bit integer in ASCII digits (`isdigit` alone would take "0", "²" and other
    scripts' digits, and every send would be refused)."""
    return value.isascii() and value.isdigit() and 0 < int(value) < 2**63


def _check_href(value: str) -> None:
    """An http(s):// or tg:// link, as Telegram reads it (entities decoded)."""
    href = html.unescape(value)
    if not href:
        raise TelegramHtmlError("<a> needs an href")
    if not _LINK.match(href):
        raise LinkTargetError(
            f"<a href={href[:40]!r}>: a link must start with http://, https:// or tg://"
        )
