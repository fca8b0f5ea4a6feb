"""The tokenizer of the rule text form: words, literals and symbols with their positions."""

import enum
import json
import re
from dataclasses import dataclass
from datetime import date

from segments.rules import limits
from segments.rules.errors import RuleError, RuleLimitError, RuleSyntaxError, excerpt
from segments.rules.tree import DURATION_TEXT, Duration, check_text


class TokenKind(enum.StrEnum):
    WORD = "a word"
    NUMBER = "a number"
    DATE = "a date"
    DURATION = "a duration"
    STRING = "quoted text"
    SYMBOL = "a symbol"
    END = "the end of the rule"


KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "set", "within", "before", "after", "on", "campaign"}
    | {"segment", "tag", "interest"}
)
SYMBOLS = ("!=", "<=", ">=", "=", "<", ">", "(", ")", ",", ":")

# A bare run of characters is then told apart: a date, a duration, a number, else a word.
_BARE = re.compile(r"[A-Za-z0-9_.+\-]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.+\-]*|\d[A-Za-z0-9_.+\-]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str  # as written
    position: int  # 0-based offset in the rule text
    value: str | int | float | date | Duration | None = None

    @property
    def keyword(self) -> str | None:
        """The keyword this word is (lower-cased), if it is one."""
        lowered = self.text.lower()
        return lowered if self.kind is TokenKind.WORD and lowered in KEYWORDS else None

    def shown(self) -> str:
        return "the end of the rule" if self.kind is TokenKind.END else repr(excerpt(self.text))


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`, ending with an END token; RuleSyntaxError on a stray character."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        token = _symbol(text, position) or _string(text, position) or _bare(text, position)
        if token is None:
            raise RuleSyntaxError(f"unexpected character {text[position]!r}", position=position)
        tokens.append(token)
        position += len(token.text)
    tokens.append(Token(TokenKind.END, "", len(text)))
    return tokens


def bare_kind(text: str) -> TokenKind | None:
    """What a bare run of characters reads as, or None if it cannot stand bare."""
    if not _BARE.fullmatch(text):
        return None
    if _DATE.fullmatch(text):
        return TokenKind.DATE
    if DURATION_TEXT.fullmatch(text):
        return TokenKind.DURATION
    if _NUMBER.fullmatch(text):
        return TokenKind.NUMBER
    return TokenKind.WORD if _WORD.fullmatch(text) else None


def quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _symbol(text: str, position: int) -> Token | None:
    for symbol in SYMBOLS:
        if text.startswith(symbol, position):
            return Token(TokenKind.SYMBOL, symbol, position)
    return None


def _string(text: str, position: int) -> Token | None:
    if text[position] != '"':
        return None
    match = _STRING.match(text, position)
    if match is None:
        raise RuleSyntaxError('quoted text is not closed with a "', position=position)
    try:
        value = json.loads(match[0])
    except json.JSONDecodeError:
        raise RuleSyntaxError("bad escape in quoted text", position=position) from None
    try:
        check_text(value)  # json.loads takes \u0000 and a lone \ud800 as they come
    except RuleError as error:
        raise RuleSyntaxError(f"quoted {error.reason}", position=position) from None
    return Token(TokenKind.STRING, match[0], position, value)


def _bare(text: str, position: int) -> Token | None:
    match = _BARE.match(text, position)
    if match is None:
        return None
    chunk = match[0]
    kind = bare_kind(chunk)
    if kind is None:
        shown = excerpt(chunk)
        raise RuleSyntaxError(f"{shown!r} is neither a word nor a number", position=position)
    try:
        return Token(kind, chunk, position, _value(kind, chunk))
    except RuleError as error:
        raise type(error)(error.reason, position=position) from None


def _value(kind: TokenKind, chunk: str) -> str | int | float | date | Duration | None:
    """What a bare token stands for; a number, duration or date beyond the limits is
    refused here, before it becomes a Python number (int() of 5,000 digits raises, a float
    of them is infinite, a timedelta of them overflows) or a moment (9999-12-31 has no
    next midnight for `after`)."""
    if kind is TokenKind.DATE:
        try:
            day = date.fromisoformat(chunk)
        except ValueError:
            raise RuleSyntaxError(f"{chunk} is not a date") from None
        limits.check_date(day)
        return day
    if kind is TokenKind.DURATION:
        return Duration.parse(chunk)
    if kind is TokenKind.NUMBER:
        number = float(chunk)  # never raises: the pattern matched; too big is infinite
        if not limits.is_small(number):
            raise RuleLimitError(f"{limits.TOO_BIG} (write it in quotes to mean the text)")
        whole = not any(mark in chunk for mark in ".eE")
        return int(number) if whole else number
    return chunk
