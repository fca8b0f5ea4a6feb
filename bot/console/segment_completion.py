"""What the segment builder offers to type next, where the rule text ends: a field, an
operator the field takes, one of its values, a duration, a saved segment's name, `and` /
`or`. The fields, operators and values come from the rule language's own tables
(`segments.rules.fields`), so the offer follows the language.

The text is read with the rule tokenizer and walked through the grammar of
`segments.rules` far enough to know what comes next; the parser, not this, decides
whether the rule is right.
"""

import enum
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from segments.rules import Action, Flag, Op, RuleError
from segments.rules.fields import FIXED_FIELDS, FieldSpec, check_operator, field_name, field_spec
from segments.rules.text_form import name
from segments.rules.tokens import Token, TokenKind, tokenize
from segments.rules.tree import COMPARISONS

LIMIT = 20  # suggestions shown at once
MAX_PICK = 100  # characters of a suggestion a request may insert
# The word being typed at the end of the text, which a suggestion replaces.
_PARTIAL = re.compile(r"[A-Za-z0-9_.+\-]*\Z")
_VALUES = (TokenKind.WORD, TokenKind.STRING, TokenKind.NUMBER, TokenKind.DATE, TokenKind.DURATION)
_MOMENT_WORDS = {"before": Op.BEFORE, "after": Op.AFTER, "within": Op.WITHIN}


@dataclass(frozen=True, slots=True)
class Suggestion:
    text: str  # what a click inserts
    about: str = ""


ACTIONS = {
    Action.READ: "read a message (inferred)",
    Action.CLICKED: "clicked a tracked link",
    Action.REPLIED: "wrote to the bot",
    Action.PRESSED: "pressed a button",
    Action.REACTED: "reacted to a message",
    Action.ANSWERED: "answered a quiz question",
}
FLAGS = {
    Flag.BUYER: "has a counted order",
    Flag.CLICKER: "has clicked a tracked link",
    Flag.VIEWER: "has read but never clicked",
}
_STARTS = (  # what is not a field first: the fields are many, and typing narrows them
    *(Suggestion(str(action), about) for action, about in ACTIONS.items()),
    *(Suggestion(str(flag), about) for flag, about in FLAGS.items()),
    Suggestion("tag:", "carries a tag"),
    Suggestion("interest:", "a tag, or clicked a link tagged so"),
    Suggestion("in segment", "a saved segment's rule holds"),
    Suggestion("not", "the opposite of what follows"),
    *(Suggestion(spec.name, spec.about) for spec in FIXED_FIELDS.values()),
    Suggestion("rfm", "RFM segment"),
    Suggestion("attr.", "a subscriber attribute: attr.NAME"),
    Suggestion("crm.", "a CRM customer's attribute: crm.NAME"),
)
_DURATIONS = tuple(Suggestion(text) for text in ("24h", "7d", "30d", "90d", "2w"))
_OPERATORS = {  # each as the text form writes it; `in` and `is set` negated too
    **{op: (str(op),) for op in (*COMPARISONS, Op.BEFORE, Op.AFTER, Op.WITHIN)},
    Op.IN: ("in (", "not in ("),
    Op.IS_SET: ("is set", "is not set"),
}


class Expect(enum.Enum):
    """What the grammar expects after the text read so far."""

    PREDICATE = enum.auto()  # a field, an action, a flag, tag:, in segment, not, (
    OPERATOR = enum.auto()  # after a field
    VALUE = enum.auto()  # after a field's operator
    LIST_OPEN = enum.auto()  # after `in` / `not in`
    LIST_VALUE = enum.auto()  # after `(` or `,` of a list
    LIST_NEXT = enum.auto()  # after a value of a list
    IS = enum.auto()  # after `is` (`not`, then `set`)
    NOT_IN = enum.auto()  # after a field's `not`
    ACTION = enum.auto()  # after an action or one of its parts
    ACTION_COUNT = enum.auto()  # after an action's comparison
    ACTION_WITHIN = enum.auto()  # after an action's `within`
    ACTION_ON = enum.auto()  # after an action's `on`
    CAMPAIGN_ID = enum.auto()  # after `on campaign`
    TAG = enum.auto()  # after tag / interest
    TAG_NAME = enum.auto()  # after tag: (or a tag's further colon)
    TAGGED = enum.auto()  # after a tag's name: a colon, or what follows a predicate
    SEGMENT_WORD = enum.auto()  # after a predicate's `in`
    SEGMENT_NAME = enum.auto()  # after `in segment`
    JOIN = enum.auto()  # after a whole predicate: and, or, )
    UNKNOWN = enum.auto()  # the text went astray; the parser will say where


_ENDED = (Expect.JOIN, Expect.ACTION, Expect.TAGGED)  # a predicate may end here
_ACTION_WORDS = {"within": Expect.ACTION_WITHIN, "on": Expect.ACTION_ON}
_NEXT_WORDS = {  # where one thing or two may come next, whatever came before
    Expect.LIST_OPEN: ("(",),
    Expect.LIST_NEXT: (",", ")"),
    Expect.IS: ("set", "not set"),
    Expect.NOT_IN: ("in (",),
    Expect.ACTION_WITHIN: tuple(each.text for each in _DURATIONS),
    Expect.ACTION_ON: ("campaign",),
    Expect.SEGMENT_WORD: ("segment",),
}
_FLAG_NAMES = frozenset(flag.value for flag in Flag)
_ACTION_NAMES = frozenset(action.value for action in Action)


@dataclass
class _Walk:
    rfm_segments: Collection[str]
    expect: Expect = Expect.PREDICATE
    spec: FieldSpec | None = None  # the field of the condition being read
    op: Op | None = None
    depth: int = 0  # parentheses open

    def step(self, token: Token) -> None:
        self.expect = self._next(token)
        if token.kind is TokenKind.SYMBOL and token.text == "(":
            self.depth += 1
        elif token.kind is TokenKind.SYMBOL and token.text == ")":
            self.depth -= 1

    def _next(self, token: Token) -> Expect:
        keyword = token.keyword
        symbol = token.text if token.kind is TokenKind.SYMBOL else None
        value = token.kind in _VALUES and keyword is None
        if self.expect in _ENDED and keyword in ("and", "or"):
            return Expect.PREDICATE
        if self.expect in _ENDED and symbol == ")":
            return Expect.JOIN
        match self.expect:
            case Expect.PREDICATE:
                return self._predicate(token)
            case Expect.OPERATOR:
                return self._operator(keyword, symbol)
            case Expect.ACTION if symbol in COMPARISONS:
                return Expect.ACTION_COUNT
            case Expect.ACTION:
                return _ACTION_WORDS.get(keyword or "", Expect.UNKNOWN)
            case Expect.VALUE if value:
                return Expect.JOIN
            case Expect.LIST_OPEN if symbol == "(":
                return Expect.LIST_VALUE
            case Expect.LIST_VALUE if value:
                return Expect.LIST_NEXT
            case Expect.LIST_NEXT if symbol in (",", ")"):
                return Expect.LIST_VALUE if symbol == "," else Expect.JOIN
            case Expect.IS if keyword in ("not", "set"):
                return Expect.IS if keyword == "not" else Expect.JOIN
            case Expect.NOT_IN if keyword == "in":
                return Expect.LIST_OPEN
            case Expect.ACTION_COUNT | Expect.CAMPAIGN_ID if token.kind is TokenKind.NUMBER:
                return Expect.ACTION
            case Expect.ACTION_WITHIN if token.kind is TokenKind.DURATION:
                return Expect.ACTION
            case Expect.ACTION_ON if keyword == "campaign":
                return Expect.CAMPAIGN_ID
            case Expect.TAG | Expect.TAGGED if symbol == ":":
                return Expect.TAG_NAME
            case Expect.TAG_NAME if value or keyword is not None:
                return Expect.TAGGED
            case Expect.SEGMENT_WORD if keyword == "segment":
                return Expect.SEGMENT_NAME
            case Expect.SEGMENT_NAME if value or keyword is not None:
                return Expect.JOIN
        return Expect.UNKNOWN

    def _predicate(self, token: Token) -> Expect:
        keyword, text = token.keyword, token.text
        if keyword == "not" or (token.kind is TokenKind.SYMBOL and text == "("):
            return Expect.PREDICATE
        if keyword in ("tag", "interest"):
            return Expect.TAG
        if keyword == "in":
            return Expect.SEGMENT_WORD
        if token.kind is not TokenKind.WORD or keyword is not None:
            return Expect.UNKNOWN
        word = field_name(text)
        if word in _FLAG_NAMES:
            return Expect.JOIN
        if word in _ACTION_NAMES:
            return Expect.ACTION
        try:
            self.spec = field_spec(word, rfm_segments=self.rfm_segments)
        except RuleError:
            return Expect.UNKNOWN
        return Expect.OPERATOR

    def _operator(self, keyword: str | None, symbol: str | None) -> Expect:
        if keyword in ("not", "is", "in"):
            return {"not": Expect.NOT_IN, "is": Expect.IS, "in": Expect.LIST_OPEN}[keyword]
        if keyword in _MOMENT_WORDS:
            self.op = _MOMENT_WORDS[keyword]
            return Expect.VALUE
        if symbol in COMPARISONS:
            self.op = Op(symbol)
            return Expect.VALUE
        return Expect.UNKNOWN

    def offer(self, segment_names: Sequence[str]) -> list[Suggestion]:
        joins = [Suggestion("and"), Suggestion("or"), *([Suggestion(")")] if self.depth else [])]
        choices = [Suggestion(name(choice)) for choice in self.spec.choices] if self.spec else []
        match self.expect:
            case Expect.PREDICATE:
                return list(_STARTS)
            case Expect.OPERATOR:
                return self._operators()
            case Expect.VALUE if self.op is Op.WITHIN:
                return list(_DURATIONS)
            case Expect.VALUE | Expect.LIST_VALUE:
                return choices
            case Expect.ACTION:
                return [Suggestion(">="), Suggestion("within"), Suggestion("on campaign"), *joins]
            case Expect.SEGMENT_NAME:
                return [Suggestion(name(each), "saved segment") for each in segment_names]
            case Expect.JOIN | Expect.TAGGED:
                return joins
        return [Suggestion(text) for text in _NEXT_WORDS.get(self.expect, ())]

    def _operators(self) -> list[Suggestion]:
        spec = self.spec
        if spec is None:
            return []
        offered = []
        for op, texts in _OPERATORS.items():
            try:
                check_operator(spec, op)
            except RuleError:
                continue
            offered += [Suggestion(text, spec.kind.value) for text in texts]
        return offered


def suggestions(
    rule_text: str,
    *,
    rfm_segments: Collection[str],
    segment_names: Sequence[str] = (),
    limit: int = LIMIT,
) -> list[Suggestion]:
    """What may come next at the end of `rule_text`, starting with the word being typed
    (and more than it: a word typed in full has nothing left to complete)."""
    partial = _partial(rule_text)
    try:
        tokens = tokenize(rule_text[: len(rule_text) - len(partial)])[:-1]  # without END
    except RuleError:
        return []
    walk = _Walk(rfm_segments)
    for token in tokens:
        walk.step(token)
    typed = partial.lower()
    fitting = [each for each in walk.offer(segment_names) if each.text.lower() != typed]
    return [each for each in fitting if each.text.lower().startswith(typed)][:limit]


def complete(rule_text: str, pick: str) -> str:
    """`rule_text` with the word being typed at its end replaced by `pick`, and a space
    after it unless what comes next joins on (`tag:`, `in (`, `attr.`)."""
    pick = pick.strip()[:MAX_PICK]
    head = rule_text[: len(rule_text) - len(_partial(rule_text))]
    if pick in (",", ")"):  # written against the value before it: `(es, mx)`
        head = head.rstrip()
    elif head and not head[-1].isspace() and not head.endswith(("(", ":")):
        head += " "
    joined = pick.endswith(("(", ":", "."))
    return f"{head}{pick}{'' if joined else ' '}"


def _partial(rule_text: str) -> str:
    found = _PARTIAL.search(rule_text)
    return found[0] if found else ""
