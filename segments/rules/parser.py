"""Recursive-descent parser of the rule text form (the grammar is in `segments.rules`).

It enforces the language's limits (`segments.rules.limits`) as it reads, each reported at
the column where it is crossed: the length before any token, the nesting before it
recurses a level deeper, the conditions and list values as they are counted.
"""

from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import limits
from segments.rules.errors import RuleError, RuleLimitError, RuleSyntaxError, RuleTypeError
from segments.rules.fields import check_condition, check_operator, field_name, field_spec
from segments.rules.tokens import Token, TokenKind, tokenize
from segments.rules.tree import (
    COMPARISONS,
    MAX_NAME,
    Action,
    AllOf,
    AnyOf,
    Condition,
    Did,
    Duration,
    Flag,
    HasFlag,
    InSegment,
    Not,
    Op,
    Rule,
    Scalar,
    Tagged,
    segment_references,
)

_VALUE_KINDS = (
    TokenKind.WORD,
    TokenKind.STRING,
    TokenKind.NUMBER,
    TokenKind.DATE,
    TokenKind.DURATION,
)
T = TypeVar("T")
_MOMENT_OPS = {"before": Op.BEFORE, "after": Op.AFTER, "within": Op.WITHIN}


def parse(text: str, *, rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names) -> Rule:
    """The rule `text` says; RuleError (syntax, type or limit) with the position otherwise."""
    if len(text) > limits.MAX_LENGTH:
        raise RuleLimitError(
            f"{limits.TOO_LONG}; this one has {len(text):,}", position=limits.MAX_LENGTH
        )
    parser = _Parser(tokenize(text), rfm_segments)
    if parser.peek().kind is TokenKind.END:
        raise RuleSyntaxError("expected a rule, found nothing", position=0)
    rule = parser.disjunction()
    parser.expect_end()
    return rule


def segments_named_in(
    text: str, *, rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names
) -> set[str]:
    """The saved segments the rule `text` names (`in segment`); none when it does not
    parse (saving checked it; whatever evaluates it reports it)."""
    try:
        return segment_references(parse(text, rfm_segments=rfm_segments))
    except RuleError:
        return set()


@dataclass
class _Parser:
    tokens: list[Token]
    rfm_segments: Collection[str]
    index: int = field(default=0)
    nesting: int = field(default=0)  # parentheses and `not` open where the parser reads
    terms: int = field(default=0)  # predicates read so far

    # -- token stream --------------------------------------------------------------------
    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, word_or_symbol: str) -> Token | None:
        token = self.peek()
        if token.keyword == word_or_symbol or (
            token.kind is TokenKind.SYMBOL and token.text == word_or_symbol
        ):
            return self.advance()
        return None

    def expect(self, word_or_symbol: str, after: str) -> Token:
        token = self.accept(word_or_symbol)
        if token is None:
            raise self.error(f"expected {word_or_symbol!r} after {after}")
        return token

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind is not TokenKind.END:
            expected = "`and`, `or` or `)`" if self._open_parens() else "`and` or `or`"
            raise self.error(f"expected {expected}", token)

    def error(self, message: str, token: Token | None = None) -> RuleSyntaxError:
        token = token or self.peek()
        return RuleSyntaxError(f"{message}, found {token.shown()}", position=token.position)

    def _open_parens(self) -> bool:
        consumed = self.tokens[: self.index]
        opened = sum(1 for token in consumed if token.text == "(")
        return opened > sum(1 for token in consumed if token.text == ")")

    # -- rule := conjunction ("or" conjunction)* ------------------------------------------
    def disjunction(self) -> Rule:
        items = [self.conjunction()]
        while self.accept("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else AnyOf(tuple(items))

    def conjunction(self) -> Rule:
        items = [self.negation()]
        while self.accept("and"):
            items.append(self.negation())
        return items[0] if len(items) == 1 else AllOf(tuple(items))

    def negation(self) -> Rule:
        opening = self.peek()
        if self.accept("not"):
            with self.nested(opening):
                return Not(self.negation())
        if self.accept("("):
            with self.nested(opening):
                inner = self.disjunction()
            if not self.accept(")"):
                raise self.error("expected `and`, `or` or `)`")
            return inner
        return self.predicate()

    @contextmanager
    def nested(self, opening: Token) -> Iterator[None]:
        """One level deeper for what follows `opening` (`not` or `(`), within the limit."""
        if self.nesting == limits.MAX_NESTING:
            raise RuleLimitError(limits.TOO_DEEP, position=opening.position)
        self.nesting += 1
        try:
            yield
        finally:
            self.nesting -= 1

    # -- predicates ---------------------------------------------------------------------
    def predicate(self) -> Rule:
        token = self.peek()
        self.terms += 1
        if self.terms > limits.MAX_TERMS:
            raise RuleLimitError(limits.TOO_MANY_TERMS, position=token.position)
        word = token.text.lower() if token.kind is TokenKind.WORD else None
        if word in ("tag", "interest"):
            self.advance()
            self.expect(":", word)
            return Tagged(self.tag_name(word), via_clicks=word == "interest")
        if word == "in":
            self.advance()
            self.expect("segment", "in")
            return InSegment(self.name("a segment name after `in segment`"))
        if word in {flag.value for flag in Flag}:
            self.advance()
            return HasFlag(Flag(word))
        if word in {action.value for action in Action}:
            self.advance()
            return self.did(Action(word))
        if word is None or token.keyword is not None:
            raise self.error("expected a field (lang...), an action (clicked...), tag:NAME or `(`")
        self.advance()
        return self.condition(token)

    def condition(self, field_token: Token) -> Rule:
        name = field_name(field_token.text)
        spec = self.located(field_token, lambda: field_spec(name, rfm_segments=self.rfm_segments))
        operator = self.peek()
        negated, op = self.operator(name)
        self.located(operator, lambda: check_operator(spec, op))
        value_token = self.peek()
        condition = Condition(name, op, self.operand(op))
        checked = self.located(
            value_token, lambda: check_condition(condition, rfm_segments=self.rfm_segments)
        )
        return Not(checked) if negated else checked

    def operator(self, name: str) -> tuple[bool, Op]:
        """(negated, op) for `not in`, `is [not] set`, `in`, before/after/within or a symbol."""
        operator = self.peek()
        if self.accept("not"):
            self.expect("in", "not")
            return True, Op.IN
        if self.accept("is"):
            negated = self.accept("not") is not None
            self.expect("set", "is not" if negated else "is")
            return negated, Op.IS_SET
        if operator.keyword in ("in", *_MOMENT_OPS):
            self.advance()
            return False, _MOMENT_OPS.get(operator.text.lower(), Op.IN)
        if operator.kind is TokenKind.SYMBOL and operator.text in COMPARISONS:
            self.advance()
            return False, Op(operator.text)
        raise self.error(f"expected an operator after {name} (=, !=, <, >, in, is set, within...)")

    @staticmethod
    def located(token: Token, check: Callable[[], T]) -> T:
        """Run a type check, placing its error at `token`."""
        try:
            return check()
        except RuleError as error:
            raise type(error)(error.reason, position=token.position) from None

    def operand(self, op: Op) -> Scalar | tuple[Scalar, ...] | None:
        if op is Op.IS_SET:
            return None
        if op is not Op.IN:
            return self.value()
        self.expect("(", "in")
        values = [self.value()]
        while self.accept(","):
            if len(values) == limits.MAX_LIST:
                raise RuleLimitError(limits.TOO_MANY_VALUES, position=self.peek().position)
            values.append(self.value())
        if not self.accept(")"):
            raise self.error("expected `,` or `)` in the list")
        return tuple(values)

    def value(self) -> Scalar:
        token = self.peek()
        if token.kind not in _VALUE_KINDS or token.value is None:
            raise self.error("expected a value")
        if token.keyword is not None:
            raise self.error(f'expected a value (write "{token.text}" in quotes to mean the text)')
        self.advance()
        return token.value

    def name(self, what: str) -> str:
        token = self.peek()
        if token.kind in (TokenKind.SYMBOL, TokenKind.END):
            raise self.error(f"expected {what}")
        name = token.value if isinstance(token.value, str) else token.text
        if not 0 < len(name) <= MAX_NAME:
            raise RuleTypeError(f"a name is 1-{MAX_NAME} characters", position=token.position)
        self.advance()
        return name

    def tag_name(self, word: str) -> str:
        """A tag may itself have colons (`tag:ladder:problem_aware`, as quiz tags do)."""
        parts = [self.name(f"a tag after {word}:")]
        while self.accept(":"):
            parts.append(self.name(f"the rest of the tag after {':'.join(parts)}:"))
        return ":".join(parts)

    def did(self, action: Action) -> Did:
        count: tuple[Op, int] | None = None
        within: Duration | None = None
        campaign: int | None = None
        while True:
            token = self.peek()
            if token.kind is TokenKind.SYMBOL and token.text in COMPARISONS and count is None:
                self.advance()
                count = (Op(token.text), self.whole_number("a count", minimum=0))
            elif token.keyword == "within" and within is None:
                self.advance()
                within = self.duration()
            elif token.keyword == "on" and campaign is None:
                self.advance()
                self.expect("campaign", "on")
                campaign = self.whole_number("a campaign id", minimum=1)
            else:
                return Did(action, count, within, campaign)

    def whole_number(self, what: str, *, minimum: int) -> int:
        token = self.peek()
        if token.kind is not TokenKind.NUMBER or type(token.value) is not int:
            raise self.error(f"expected {what} (a whole number)")
        if token.value < minimum:
            raise RuleTypeError(f"{what} must be at least {minimum}", position=token.position)
        self.advance()
        return token.value

    def duration(self) -> Duration:
        token = self.peek()
        if not isinstance(token.value, Duration):
            raise self.error("expected a duration after `within` (like 7d, 12h or 2w)")
        self.advance()
        return token.value


__all__ = ["RuleError", "parse"]
