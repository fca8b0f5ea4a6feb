"""A rule tree as JSON (how a saved segment stores it) and back, checked on the way in.

{"and": [RULE, RULE, ...]}   {"or": [...]}   {"not": RULE}
{"field": "lang", "op": "=", "value": "es"}       (`in`: a list; `is set`: no value;
{"field": "subscribed", "op": "within", "value": "7d"}    before/after: "YYYY-MM-DD")
{"did": "clicked", "count": [">=", 3], "within": "30d", "campaign": 12}
{"tag": "vip"}   {"interest": "pricing"}   {"flag": "buyer"}   {"segment": "vip"}
"""

from collections.abc import Collection, Mapping
from datetime import date
from typing import TypeAlias, TypeVar

from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules import limits
from segments.rules.errors import RuleError, RuleLimitError, RuleSyntaxError, RuleTypeError
from segments.rules.fields import check_condition
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
    check_limits,
)

JsonValue: TypeAlias = dict[str, "JsonValue"] | list["JsonValue"] | str | int | float | bool | None
JsonRule = dict[str, JsonValue]
E = TypeVar("E", Op, Action, Flag)
# Objects within objects: the deepest tree a rule within the nesting limit can make (each
# level of parentheses may hold an `or` of `and`s), so decoding never recurses further.
_MAX_DEPTH = 2 * limits.MAX_NESTING + 2


def to_json(rule: Rule) -> JsonRule:
    if isinstance(rule, AllOf | AnyOf):
        return {"and" if isinstance(rule, AllOf) else "or": [to_json(item) for item in rule.items]}
    if isinstance(rule, Not):
        return {"not": to_json(rule.item)}
    if isinstance(rule, Condition):
        encoded: JsonRule = {"field": rule.field, "op": str(rule.op)}
        if isinstance(rule.value, tuple):
            encoded["value"] = [_scalar_json(value) for value in rule.value]
        elif rule.value is not None:
            encoded["value"] = _scalar_json(rule.value)
        return encoded
    if isinstance(rule, Did):
        did: JsonRule = {"did": str(rule.action)}
        if rule.count is not None:
            did["count"] = [str(rule.count[0]), rule.count[1]]
        if rule.within is not None:
            did["within"] = str(rule.within)
        if rule.campaign is not None:
            did["campaign"] = rule.campaign
        return did
    if isinstance(rule, Tagged):
        return {"interest" if rule.via_clicks else "tag": rule.tag}
    if isinstance(rule, HasFlag):
        return {"flag": str(rule.flag)}
    return {"segment": rule.name}


def from_json(
    data: JsonValue, *, rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names
) -> Rule:
    """The rule `data` encodes; a RuleError naming the place (e.g. `and[1].value`) if not,
    or a RuleLimitError when it is beyond the limits of `segments.rules.limits`."""
    rule = _Decoder(rfm_segments).rule(data, "rule", depth=0)
    check_limits(rule)
    return rule


class _Decoder:
    def __init__(self, rfm_segments: Collection[str]) -> None:
        self.rfm_segments = rfm_segments

    def rule(self, data: JsonValue, at: str, *, depth: int) -> Rule:
        if not isinstance(data, Mapping) or not data:
            raise RuleSyntaxError(f'{at}: expected an object such as {{"tag": "vip"}}')
        if depth > _MAX_DEPTH:
            raise RuleLimitError(limits.TOO_DEEP)  # no place: its path would be as deep
        for combinator in ("and", "or"):
            if combinator in data:
                items = self.exactly(data, at, combinator)
                place = f"{at}.{combinator}"
                if not isinstance(items, list) or len(items) < 2:
                    raise RuleSyntaxError(f"{place}: expected a list of 2 or more rules")
                if len(items) > limits.MAX_TERMS:
                    raise RuleLimitError(f"{place}: {limits.TOO_MANY_TERMS}")
                rules = tuple(
                    self.rule(item, f"{place}[{i}]", depth=depth + 1)
                    for i, item in enumerate(items)
                )
                return AllOf(rules) if combinator == "and" else AnyOf(rules)
        if "not" in data:
            return Not(self.rule(self.exactly(data, at, "not"), f"{at}.not", depth=depth + 1))
        if "field" in data:
            return self.condition(data, at)
        if "did" in data:
            return self.did(data, at)
        for key in ("tag", "interest", "segment"):
            if key in data:
                name = self.text(self.exactly(data, at, key), f"{at}.{key}")
                if not 0 < len(name) <= MAX_NAME:
                    raise RuleTypeError(f"{at}.{key}: a name is 1-{MAX_NAME} characters")
                return InSegment(name) if key == "segment" else Tagged(name, key == "interest")
        if "flag" in data:
            flag = self.exactly(data, at, "flag")
            return HasFlag(self.member(Flag, flag, f"{at}.flag"))
        raise RuleSyntaxError(f"{at}: unknown rule {sorted(data)}")

    def condition(self, data: Mapping[str, JsonValue], at: str) -> Condition:
        self.only(data, at, {"field", "op", "value"})
        field = self.text(data["field"], f"{at}.field")
        op = self.member(Op, data.get("op"), f"{at}.op")
        raw = data.get("value")
        value: Scalar | tuple[Scalar, ...] | None
        if op is Op.IN:
            if not isinstance(raw, list):
                raise RuleTypeError(f"{at}.value: `in` needs a list")
            if len(raw) > limits.MAX_LIST:
                raise RuleLimitError(f"{at}.value: {limits.TOO_MANY_VALUES}")
            value = tuple(self.scalar(item, op, f"{at}.value[{i}]") for i, item in enumerate(raw))
        else:
            value = None if raw is None else self.scalar(raw, op, f"{at}.value")
        try:
            return check_condition(Condition(field, op, value), rfm_segments=self.rfm_segments)
        except RuleError as error:
            raise type(error)(f"{at}: {error.reason}") from None

    def did(self, data: Mapping[str, JsonValue], at: str) -> Did:
        self.only(data, at, {"did", "count", "within", "campaign"})
        action = self.member(Action, data["did"], f"{at}.did")
        count = data.get("count")
        checked_count: tuple[Op, int] | None = None
        if count is not None:
            if not (isinstance(count, list) and len(count) == 2):
                raise RuleTypeError(f'{at}.count: expected [OP, N] such as [">=", 3]')
            op = self.member(Op, count[0], f"{at}.count[0]")
            if op not in COMPARISONS:
                raise RuleTypeError(f"{at}.count[0]: expected one of {', '.join(COMPARISONS)}")
            checked_count = (op, self.whole(count[1], f"{at}.count[1]", minimum=0))
        within = data.get("within")
        campaign = data.get("campaign")
        return Did(
            action,
            checked_count,
            None if within is None else self.duration(within, f"{at}.within"),
            None if campaign is None else self.whole(campaign, f"{at}.campaign", minimum=1),
        )

    def scalar(self, raw: JsonValue, op: Op, at: str) -> Scalar:
        if op in (Op.BEFORE, Op.AFTER):
            try:
                return date.fromisoformat(self.text(raw, at))
            except ValueError:
                raise RuleTypeError(f"{at}: expected a date YYYY-MM-DD") from None
        if op is Op.WITHIN:
            return self.duration(raw, at)
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise RuleTypeError(f"{at}: expected text or a number")
        return raw

    def duration(self, raw: JsonValue, at: str) -> Duration:
        try:
            duration = Duration.parse(self.text(raw, at))
        except RuleLimitError as error:
            raise RuleLimitError(f"{at}: {error.reason}") from None
        if duration is None:
            raise RuleTypeError(f"{at}: expected a duration like 7d, 12h or 2w")
        return duration

    @staticmethod
    def whole(raw: JsonValue, at: str, *, minimum: int) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            raise RuleTypeError(f"{at}: expected a whole number of at least {minimum}")
        if not limits.is_small(raw):
            raise RuleLimitError(f"{at}: {limits.TOO_BIG}")
        return raw

    @staticmethod
    def text(raw: JsonValue, at: str) -> str:
        if not isinstance(raw, str):
            raise RuleTypeError(f"{at}: expected text")
        return raw

    @staticmethod
    def member(kind: type[E], raw: JsonValue, at: str) -> E:
        try:
            return kind(raw if isinstance(raw, str) else "")
        except ValueError:
            choices = ", ".join(str(member) for member in kind)
            raise RuleTypeError(f"{at}: expected one of {choices}") from None

    @staticmethod
    def exactly(data: Mapping[str, JsonValue], at: str, key: str) -> JsonValue:
        _Decoder.only(data, at, {key})
        return data[key]

    @staticmethod
    def only(data: Mapping[str, JsonValue], at: str, keys: set[str]) -> None:
        extra = set(data) - keys
        if extra:
            raise RuleSyntaxError(f"{at}: unexpected {', '.join(sorted(extra))}")


def _scalar_json(value: Scalar) -> JsonValue:
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


__all__ = ["JsonRule", "JsonValue", "RuleError", "from_json", "to_json"]
