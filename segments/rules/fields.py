"""The fields a rule can compare, their types, and the type check of a condition.

A field's `source` says where its value lives; the SQL compiler and the Python evaluator
both dispatch on it, so a field is declared once.
"""

import enum
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date
from difflib import get_close_matches

from crm_sync.fields import ATTRIBUTE_NAME
from segments.levels import ACTIVITY_LEVELS, STAGES
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.errors import RuleTypeError, excerpt
from segments.rules.tree import (
    COMPARISONS,
    ORDERING,
    Condition,
    Duration,
    Flag,
    HasFlag,
    InSegment,
    Op,
    Rule,
    Scalar,
    check_value,
    predicates,
)


class Kind(enum.StrEnum):
    TEXT = "text"
    NUMBER = "a number"
    MOMENT = "a moment"
    CHOICE = "one of a fixed set"
    RANK = "an ordered level"
    ATTRIBUTE = "an attribute (text or a number)"


@dataclass(frozen=True, slots=True)
class SubscriberColumn:
    column: str


@dataclass(frozen=True, slots=True)
class SubscriberAttribute:
    key: str


@dataclass(frozen=True, slots=True)
class CustomerAttribute:
    """An attribute of any CRM customer linked to the subscriber."""

    key: str


class PurchaseFact(enum.StrEnum):
    """Counted (positive) orders of all customers linked to the subscriber."""

    COUNT = "count"
    TOTAL = "total"
    AVERAGE = "average"
    LAST = "last"


class RfmFact(enum.StrEnum):
    """Any linked customer's current RFM score."""

    SEGMENT = "segment"
    R = "r"
    F = "f"
    M = "m"


class Level(enum.StrEnum):
    STAGE = "stage"
    ACTIVITY = "activity"


Source = SubscriberColumn | SubscriberAttribute | CustomerAttribute | PurchaseFact | RfmFact | Level


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    kind: Kind
    source: Source
    about: str
    choices: tuple[str, ...] = ()


def _column(name: str, about: str, column: str | None = None) -> FieldSpec:
    return FieldSpec(name, Kind.TEXT, SubscriberColumn(column or name), about)


LANGUAGE_FIELD = "lang"  # `lang = es` holds for es-mx too (comparison.speaks)

FIXED_FIELDS = {
    spec.name: spec
    for spec in (
        _column(LANGUAGE_FIELD, "language code: es (any region), es-mx (only it)", "language_code"),
        _column("country", "country"),
        _column("region", "region"),
        _column("city", "city"),
        _column("timezone", "IANA time zone, e.g. Europe/Madrid"),
        _column("source", "first-touch source (/start payload)"),
        _column("referrer", "who referred them"),
        _column("utm_source", "first-touch UTM source"),
        _column("utm_medium", "first-touch UTM medium"),
        _column("utm_campaign", "first-touch UTM campaign"),
        _column("utm_content", "first-touch UTM content"),
        _column("username", "Telegram username"),
        _column("phone", "phone number, E.164"),
        _column("email", "e-mail address"),
        FieldSpec(
            "status",
            Kind.CHOICE,
            SubscriberColumn("status"),
            "subscription status",
            ("active", "unsubscribed", "blocked", "deactivated"),
        ),
        FieldSpec("subscribed", Kind.MOMENT, SubscriberColumn("subscribed_at"), "subscribed at"),
        FieldSpec("seen", Kind.MOMENT, SubscriberColumn("last_seen_at"), "last update from them"),
        FieldSpec("age", Kind.NUMBER, SubscriberAttribute("age"), "age in years"),
        FieldSpec("age_band", Kind.TEXT, SubscriberAttribute("age_band"), "age band, e.g. 25-34"),
        FieldSpec("gender", Kind.TEXT, SubscriberAttribute("gender"), "gender"),
        FieldSpec("income", Kind.TEXT, SubscriberAttribute("income"), "income band"),
        FieldSpec("education", Kind.TEXT, SubscriberAttribute("education"), "education"),
        FieldSpec("orders", Kind.NUMBER, PurchaseFact.COUNT, "number of orders"),
        FieldSpec("spent", Kind.NUMBER, PurchaseFact.TOTAL, "total spend"),
        FieldSpec("avg_check", Kind.NUMBER, PurchaseFact.AVERAGE, "average order value"),
        FieldSpec("last_purchase", Kind.MOMENT, PurchaseFact.LAST, "last order at"),
        FieldSpec("rfm.r", Kind.NUMBER, RfmFact.R, "RFM recency score 1-5"),
        FieldSpec("rfm.f", Kind.NUMBER, RfmFact.F, "RFM frequency score 1-5"),
        FieldSpec("rfm.m", Kind.NUMBER, RfmFact.M, "RFM monetary score 1-5"),
        FieldSpec("stage", Kind.RANK, Level.STAGE, "ladder of awareness stage", STAGES),
        FieldSpec("activity", Kind.RANK, Level.ACTIVITY, "activity level", ACTIVITY_LEVELS),
    )
}
# crm.NAME names an attribute as the CRM import keeps it (`crm_sync.fields`).
_CUSTOM = re.compile(rf"(attr|crm)\.({ATTRIBUTE_NAME})")
_KIND_OPS = {
    Kind.TEXT: (Op.EQ, Op.NE, Op.IN, Op.IS_SET),
    Kind.CHOICE: (Op.EQ, Op.NE, Op.IN, Op.IS_SET),
    Kind.NUMBER: (*COMPARISONS, Op.IN, Op.IS_SET),
    Kind.RANK: (*COMPARISONS, Op.IN, Op.IS_SET),
    Kind.ATTRIBUTE: (*COMPARISONS, Op.IN, Op.IS_SET),
    Kind.MOMENT: (Op.BEFORE, Op.AFTER, Op.WITHIN, Op.IS_SET),
}


def field_name(written: str) -> str:
    """A field as written (`Lang`, `ATTR.Score`) as rules name it: the fixed fields and the
    `attr.`/`crm.` of a custom one in lower case, the custom attribute's own name as it
    is (attributes are keys: `Score` is not `score`)."""
    namespace, dot, attribute = written.partition(".")
    if dot and namespace.lower() in ("attr", "crm"):
        return f"{namespace.lower()}.{attribute}"
    return written.lower()


def field_spec(
    name: str, *, rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names
) -> FieldSpec:
    """The field `name` stands for; RuleTypeError when there is none."""
    if name == "rfm":
        return FieldSpec("rfm", Kind.CHOICE, RfmFact.SEGMENT, "RFM segment", tuple(rfm_segments))
    if name in FIXED_FIELDS:
        return FIXED_FIELDS[name]
    custom = _CUSTOM.fullmatch(name)
    if custom:
        source = (SubscriberAttribute if custom[1] == "attr" else CustomerAttribute)(custom[2])
        return FieldSpec(name, Kind.ATTRIBUTE, source, f"{custom[1]} attribute {custom[2]}")
    close = get_close_matches(name, [*FIXED_FIELDS, "rfm"], n=1)
    hint = f" (did you mean {close[0]}?)" if close else " (custom ones are attr.NAME or crm.NAME)"
    raise RuleTypeError(f"unknown field {excerpt(name)!r}{hint}")


def asks_about_customers(rule: Rule, *, segments: Mapping[str, Rule]) -> bool:
    """Whether `rule`, or a segment it names, asks about the CRM customers linked to a
    subscriber (crm.NAME, purchases, RFM, `buyer`): its count depends on those links."""
    pending, seen = [rule], set()
    while pending:
        for predicate in predicates(pending.pop()):
            if isinstance(predicate, HasFlag) and predicate.flag is Flag.BUYER:
                return True
            if isinstance(predicate, Condition) and isinstance(
                field_spec(predicate.field).source, CustomerAttribute | PurchaseFact | RfmFact
            ):
                return True
            if isinstance(predicate, InSegment) and predicate.name not in seen:
                seen.add(predicate.name)
                if predicate.name in segments:
                    pending.append(segments[predicate.name])
    return False


def check_condition(
    condition: Condition, *, rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names
) -> Condition:
    """`condition` with its value normalised (a ladder stage number becomes its name), or
    a RuleTypeError saying what the field takes."""
    spec = field_spec(condition.field, rfm_segments=rfm_segments)
    check_operator(spec, condition.op)
    if condition.op is Op.IS_SET:
        if condition.value is not None:
            raise RuleTypeError("`is set` takes no value")
        return condition
    if condition.op is Op.IN:
        if not isinstance(condition.value, tuple) or not condition.value:
            raise RuleTypeError(f"{spec.name} in (...) needs a list of values")
        values = tuple(_check_value(spec, condition.op, value) for value in condition.value)
        return replace(condition, value=values)
    if isinstance(condition.value, tuple) or condition.value is None:
        raise RuleTypeError(f"{spec.name} {condition.op} needs one value")
    return replace(condition, value=_check_value(spec, condition.op, condition.value))


def check_operator(spec: FieldSpec, op: Op) -> None:
    if op not in _KIND_OPS[spec.kind]:
        allowed = ", ".join(str(each) for each in _KIND_OPS[spec.kind])
        raise RuleTypeError(f"{spec.name} is {spec.kind.value}: use {allowed}")


def _check_value(spec: FieldSpec, op: Op, value: Scalar) -> Scalar:
    check_value(value)
    shown = describe(value)
    if spec.kind is Kind.MOMENT:
        wanted: type = Duration if op is Op.WITHIN else date
        if type(value) is not wanted:
            example = "a duration like 7d, 12h or 2w" if op is Op.WITHIN else "a date YYYY-MM-DD"
            raise RuleTypeError(f"{spec.name} {op} needs {example}, not {shown}")
        return value
    if spec.kind is Kind.NUMBER or (spec.kind is Kind.ATTRIBUTE and op in ORDERING):
        if not _is_number(value):
            raise RuleTypeError(f"{spec.name} {op} needs a number, not {shown}")
        return value
    if spec.kind is Kind.ATTRIBUTE:
        if not (_is_number(value) or isinstance(value, str)):
            raise RuleTypeError(f"{spec.name} is compared with text or a number, not {shown}")
        return value
    if spec.kind is Kind.RANK and type(value) is int and 0 <= value < len(spec.choices):
        return spec.choices[value]
    if spec.kind in (Kind.CHOICE, Kind.RANK):
        if value not in spec.choices:
            raise RuleTypeError(f"{spec.name} is one of {', '.join(spec.choices)}; not {shown}")
        return value
    if not isinstance(value, str):
        raise RuleTypeError(f"{spec.name} is text, not {shown}")
    return value


def _is_number(value: Scalar) -> bool:
    """An int or float, not a bool (`_check_value` has checked its size first)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def describe(value: Scalar) -> str:
    """How an error message shows a literal: its text form and its type."""
    if isinstance(value, str):
        return f'text "{excerpt(value)}"'
    if isinstance(value, Duration):
        return f"the duration {value}"
    if isinstance(value, date):
        return f"the date {value.isoformat()}"
    return f"the number {excerpt(str(value))}"
