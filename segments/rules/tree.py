"""The typed rule tree: what a segment rule means, independent of how it is written.

A rule is a `Rule`: a combinator (`AllOf`, `AnyOf`, `Not`) or one predicate. Every predicate
is two-valued: missing data makes a comparison false, and `not` turns false into true, so
`city != Madrid` holds for a subscriber whose city is unknown, exactly like
`not city = Madrid`.
"""

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from core.unstorable import UNSTORABLE
from segments.rules import limits
from segments.rules.errors import RuleLimitError, RuleReferenceError, RuleTypeError

MAX_NAME = 64  # characters in a tag or a segment name
_UNSTORABLE = re.compile(UNSTORABLE)  # what no text in a rule may hold
UNSTORABLE_TEXT = "text cannot hold \\u0000 or a lone surrogate (\\ud800-\\udfff)"


class Op(enum.StrEnum):
    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    IS_SET = "is set"
    BEFORE = "before"  # a moment before the start of a UTC day
    AFTER = "after"  # a moment after the end of a UTC day
    WITHIN = "within"  # a moment no longer ago than a duration


ORDERING = (Op.LT, Op.LE, Op.GT, Op.GE)
COMPARISONS = (Op.EQ, Op.NE, *ORDERING)


class Action(enum.StrEnum):
    """What a subscriber did, as rules say it; `EVENT_TYPES` names the logged event."""

    READ = "read"
    CLICKED = "clicked"
    REPLIED = "replied"
    PRESSED = "pressed"
    REACTED = "reacted"
    ANSWERED = "answered"


EVENT_TYPES = {
    Action.READ: "read",
    Action.CLICKED: "link_click",
    Action.REPLIED: "message",
    Action.PRESSED: "button",
    Action.REACTED: "reaction",
    Action.ANSWERED: "quiz_answer",
}


class Flag(enum.StrEnum):
    BUYER = "buyer"  # has at least one counted (positive) order
    CLICKER = "clicker"  # has clicked a tracked link
    VIEWER = "viewer"  # has read a message (inferred) but never clicked


DURATION_TEXT = re.compile(r"(\d+)([hdw])")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


@dataclass(frozen=True, slots=True)
class Duration:
    """A window such as 7d: `amount` hours (h), days (d) or weeks (w)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> "Duration | None":
        """The duration `text` writes, None if it writes none; RuleLimitError when it is
        longer than the language allows (told before its digits become a number)."""
        match = DURATION_TEXT.fullmatch(text)
        if match is None:
            return None
        digits = match[1].lstrip("0") or "0"
        if len(digits) > len(str(limits.MAX_DURATION_HOURS)):
            raise RuleLimitError(limits.TOO_LONG_AGO)
        duration = cls(int(digits), match[2])
        duration.check()
        return duration

    @property
    def hours(self) -> int:
        return self.amount * _UNIT_HOURS[self.unit]

    @property
    def span(self) -> timedelta:
        return timedelta(hours=self.hours)

    def check(self) -> None:
        """RuleLimitError when longer than the language allows (a timedelta overflows)."""
        if not 0 <= self.hours <= limits.MAX_DURATION_HOURS:
            raise RuleLimitError(limits.TOO_LONG_AGO)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


Scalar = str | int | float | date | Duration
Value = Scalar | tuple[Scalar, ...] | None


@dataclass(frozen=True, slots=True)
class Condition:
    """`field op value`: a fact about the subscriber compared with a literal.

    `value` is a tuple for `in`, None for `is set`, a `date` for before/after and a
    `Duration` for within.
    """

    field: str
    op: Op
    value: Value = None


@dataclass(frozen=True, slots=True)
class Did:
    """`clicked [op count] [within 7d] [on campaign 12]`: events the subscriber caused.

    Without a count it means at least one such event.
    """

    action: Action
    count: tuple[Op, int] | None = None
    within: Duration | None = None
    campaign: int | None = None


@dataclass(frozen=True, slots=True)
class Tagged:
    """`tag:NAME`: the subscriber carries the tag. `interest:NAME`: the subscriber carries
    NAME or `interest:NAME` (the quiz's convention), or clicked a link tagged either."""

    tag: str
    via_clicks: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The tags that count: NAME, and for an interest also `interest:NAME`."""
        return (self.tag, f"interest:{self.tag}") if self.via_clicks else (self.tag,)


@dataclass(frozen=True, slots=True)
class HasFlag:
    flag: Flag


@dataclass(frozen=True, slots=True)
class InSegment:
    """`in segment "vip"`: the rule of another saved segment holds."""

    name: str


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple["Rule", ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple["Rule", ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: "Rule"


Predicate = Condition | Did | Tagged | HasFlag | InSegment
Rule = AllOf | AnyOf | Not | Predicate


def predicates(rule: Rule) -> list[Predicate]:
    """The predicates of `rule`, left to right."""
    if isinstance(rule, AllOf | AnyOf):
        return [found for item in rule.items for found in predicates(item)]
    if isinstance(rule, Not):
        return predicates(rule.item)
    return [rule]


def segment_references(rule: Rule) -> set[str]:
    return {found.name for found in predicates(rule) if isinstance(found, InSegment)}


def check_text(text: str) -> None:
    """RuleTypeError when `text` holds a character no database can take (`_UNSTORABLE`)."""
    if _UNSTORABLE.search(text):
        raise RuleTypeError(UNSTORABLE_TEXT)


def check_value(value: Scalar | None) -> None:
    """RuleLimitError for a number, duration or date beyond `segments.rules.limits`,
    RuleTypeError for text `check_text` refuses."""
    if isinstance(value, Duration):
        value.check()
    elif isinstance(value, date):
        limits.check_date(value)
    elif isinstance(value, int | float):
        limits.check_number(value)
    elif isinstance(value, str):
        check_text(value)


def check_limits(rule: Rule, *, segments: Mapping[str, Rule] | None = None) -> None:
    """RuleLimitError if `rule` is beyond the limits of `segments.rules.limits`, with each
    `in segment` replaced by its rule from `segments` (RuleReferenceError for a cycle; a
    missing segment is the compiler's to report); RuleTypeError for text `check_text`
    refuses.

    The walk keeps its own stack and stops at the first limit crossed, so a tree of any
    size or depth (built in code, or from JSON) costs little and never recurses.
    """
    terms, expanded = 0, False
    pending: list[tuple[Rule, int, tuple[str, ...]]] = [(rule, 0, ())]
    while pending:
        node, level, via = pending.pop()
        if level > limits.MAX_NESTING:
            raise RuleLimitError(_counting(limits.TOO_DEEP, expanded))
        if isinstance(node, AllOf | AnyOf | Not):
            items = node.items if isinstance(node, AllOf | AnyOf) else (node.item,)
            pending.extend((item, level + _levels(node, item), via) for item in reversed(items))
        elif isinstance(node, InSegment) and segments is not None and node.name in segments:
            if node.name in via:
                cycle = " -> ".join([*via, node.name])
                raise RuleReferenceError(f"segments refer to each other in a cycle: {cycle}")
            expanded = True
            pending.append((segments[node.name], level + 1, (*via, node.name)))
        else:
            terms += 1
            if terms > limits.MAX_TERMS:
                raise RuleLimitError(_counting(limits.TOO_MANY_TERMS, expanded))
            _check_predicate(node)


def _levels(parent: Rule, item: Rule) -> int:
    """The levels of nesting `item` opens inside `parent` in the text form: `not` is one,
    and so are the parentheses precedence needs (`to_text` writes exactly those)."""
    grouped = isinstance(item, AnyOf) or (isinstance(item, AllOf) and not isinstance(parent, AnyOf))
    if not isinstance(parent, Not):
        return int(grouped)
    if isinstance(item, Condition) and (isinstance(item.value, tuple) or item.value is None):
        return 0  # `x not in (...)`, `x is not set`
    return 1 + int(isinstance(item, AllOf | AnyOf))


def _check_predicate(predicate: Rule) -> None:
    if isinstance(predicate, Condition):
        values = predicate.value if isinstance(predicate.value, tuple) else (predicate.value,)
        limits.check_list(len(values))
        for value in values:
            check_value(value)
    elif isinstance(predicate, Tagged):
        check_text(predicate.tag)
    elif isinstance(predicate, Did):
        for number in (predicate.count[1] if predicate.count else 0, predicate.campaign or 0):
            limits.check_number(number)
        if predicate.within is not None:
            predicate.within.check()


def _counting(message: str, expanded: bool) -> str:
    return f"{message}, counting the segments it refers to" if expanded else message
