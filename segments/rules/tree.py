"""The typed rule tree: what a segment rule means, independent of how it is written.

A rule is a `Rule`: a combinator (`AllOf`, `AnyOf`, `Not`) or one predicate. Every predicate
is two-valued: missing data makes a comparison false, and `not` turns false into true, so
`city != Madrid` holds for a subscriber whose city is unknown, exactly like
`not city = Madrid`.
"""

import enum
import re
from dataclasses import dataclass
from datetime import date, timedelta

MAX_NAME = 64  # characters in a tag or a segment name


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


_DURATION = re.compile(r"(\d+)([hdw])")
_UNIT_HOURS = {"h": 1, "d": 24, "w": 24 * 7}


@dataclass(frozen=True, slots=True)
class Duration:
    """A window such as 7d: `amount` hours (h), days (d) or weeks (w)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> "Duration | None":
        match = _DURATION.fullmatch(text)
        return cls(int(match[1]), match[2]) if match else None

    @property
    def span(self) -> timedelta:
        return timedelta(hours=self.amount * _UNIT_HOURS[self.unit])

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
