"""A straightforward Python evaluation of a rule on one subscriber's facts.

The reference the SQL compiler is tested against (tests/segments): it states what each
predicate means in plain code, with the same comparisons (`comparison.compare`).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from segments.rules.comparison import average_money, compare, money, speaks
from segments.rules.compiler import SegmentRules
from segments.rules.errors import RuleReferenceError
from segments.rules.fields import (
    LANGUAGE_FIELD,
    CustomerAttribute,
    FieldSpec,
    Level,
    PurchaseFact,
    RfmFact,
    SubscriberAttribute,
    SubscriberColumn,
    field_spec,
)
from segments.rules.json_form import JsonValue
from segments.rules.tree import (
    EVENT_TYPES,
    Action,
    AllOf,
    AnyOf,
    Condition,
    Did,
    Flag,
    HasFlag,
    Not,
    Op,
    Rule,
    Tagged,
    Value,
)

Attributes = Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class EventFact:
    type: str
    occurred_at: datetime
    campaign_id: int | None = None
    payload: Attributes = field(default_factory=dict)

    def has_link_tag(self, tag: str) -> bool:
        tags = self.payload.get("tags")
        return isinstance(tags, list) and tag in tags


@dataclass(frozen=True, slots=True)
class RfmFacts:
    segment: str
    r: int
    f: int
    m: int


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    attributes: Attributes = field(default_factory=dict)
    orders_count: int = 0
    total_spent: float = 0.0
    last_order_at: datetime | None = None
    rfm: RfmFacts | None = None


@dataclass(frozen=True, slots=True)
class SubscriberFacts:
    """Everything a rule can ask about one subscriber; `columns` by Subscriber column name
    (status as its text value), `stage`/`activity` None when no row is stored."""

    columns: Mapping[str, str | datetime | None]
    attributes: Attributes = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    events: tuple[EventFact, ...] = ()
    customers: tuple[CustomerFacts, ...] = ()
    stage: int | None = None
    activity: int | None = None


def evaluate(
    rule: Rule, facts: SubscriberFacts, *, now: datetime, segments: SegmentRules | None = None
) -> bool:
    return _Evaluator(facts, now, segments or {}).rule(rule)


@dataclass
class _Evaluator:
    facts: SubscriberFacts
    now: datetime
    segments: SegmentRules
    expanding: list[str] = field(default_factory=list)

    def rule(self, rule: Rule) -> bool:
        if isinstance(rule, AllOf):
            return all(self.rule(item) for item in rule.items)
        if isinstance(rule, AnyOf):
            return any(self.rule(item) for item in rule.items)
        if isinstance(rule, Not):
            return not self.rule(rule.item)
        if isinstance(rule, Condition):
            return self.condition(rule)
        if isinstance(rule, Did):
            return self.did(rule)
        if isinstance(rule, Tagged):
            return any(tag in self.facts.tags for tag in rule.names) or (
                rule.via_clicks
                and any(event.has_link_tag(tag) for event in self.clicks() for tag in rule.names)
            )
        if isinstance(rule, HasFlag):
            clicked = any(True for _ in self.clicks())
            if rule.flag is Flag.BUYER:
                return sum(customer.orders_count for customer in self.facts.customers) > 0
            if rule.flag is Flag.CLICKER:
                return clicked
            return not clicked and any(e.type == "read" for e in self.facts.events)
        if rule.name in self.expanding:
            raise RuleReferenceError(f"segments refer to each other in a cycle: {rule.name}")
        if rule.name not in self.segments:
            raise RuleReferenceError(f"no segment named {rule.name!r}")
        self.expanding.append(rule.name)
        try:
            return self.rule(self.segments[rule.name])
        finally:
            self.expanding.pop()

    def clicks(self) -> list[EventFact]:
        return [event for event in self.facts.events if event.type == "link_click"]

    def did(self, did: Did) -> bool:
        since = self.now - did.within.span if did.within else None
        happened = sum(
            1
            for event in self.facts.events
            if event.type == EVENT_TYPES[did.action]
            and (since is None or event.occurred_at >= since)
            and (did.campaign is None or event.campaign_id == did.campaign)
        )
        if did.count is None:
            return happened > 0
        return compare(did.count[0], happened, did.count[1], now=self.now)

    def condition(self, rule: Condition) -> bool:
        if rule.op is Op.NE:
            return not self.condition(replace(rule, op=Op.EQ))
        spec = field_spec(rule.field, rfm_segments=_names_in(rule.value))
        source = spec.source
        customers = self.facts.customers
        if isinstance(source, SubscriberColumn):
            actual = self.facts.columns.get(source.column)
            if spec.name == LANGUAGE_FIELD and rule.op in (Op.EQ, Op.IN):
                return speaks(actual, rule.value)
            return self.compare(rule.op, actual, rule.value)
        if isinstance(source, SubscriberAttribute):
            return self.attribute(self.facts.attributes, source.key, rule)
        if isinstance(source, CustomerAttribute):
            return any(self.attribute(c.attributes, source.key, rule) for c in customers)
        if isinstance(source, RfmFact):
            scores = [customer.rfm for customer in customers if customer.rfm is not None]
            if rule.op is Op.IS_SET:
                return bool(scores)
            return any(self.compare(rule.op, getattr(s, source.value), rule.value) for s in scores)
        if isinstance(source, Level):
            return self.level(source, spec, rule)
        orders = sum(customer.orders_count for customer in customers)
        spent = sum(customer.total_spent for customer in customers)
        if source is PurchaseFact.COUNT:
            return self.compare(rule.op, orders, rule.value)
        if source is PurchaseFact.TOTAL:
            return self.compare(rule.op, money(spent), rule.value)
        if source is PurchaseFact.LAST:
            lasts = [c.last_order_at for c in customers if c.last_order_at is not None]
            return self.compare(rule.op, max(lasts, default=None), rule.value)
        if orders == 0 or rule.op is Op.IS_SET:  # the average
            return orders > 0
        return self.compare(rule.op, average_money(spent, orders), rule.value)

    def level(self, level: Level, spec: FieldSpec, rule: Condition) -> bool:
        actual: int | None
        if level is Level.STAGE:
            actual = self.facts.stage if self.facts.stage is not None else 0
        else:
            actual = self.facts.activity
        if isinstance(rule.value, tuple):
            ranks: Value = tuple(spec.choices.index(str(value)) for value in rule.value)
        else:
            ranks = None if rule.value is None else spec.choices.index(str(rule.value))
        return self.compare(rule.op, actual, ranks)

    def attribute(self, attributes: Attributes, key: str, rule: Condition) -> bool:
        raw = attributes.get(key)
        if rule.op is Op.IS_SET:
            return raw is not None
        text = raw if isinstance(raw, str) else None
        number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
        op = Op.EQ if rule.op is Op.IN else rule.op
        return any(
            self.compare(op, text if isinstance(value, str) else number, value) for value in values
        )

    def compare(self, op: Op, actual: object, value: Value) -> bool:
        return compare(op, actual, value, now=self.now)


def _names_in(value: Value) -> tuple[str, ...]:
    return tuple(str(each) for each in (value if isinstance(value, tuple) else (value,)))


__all__ = ["Action", "CustomerFacts", "EventFact", "RfmFacts", "SubscriberFacts", "evaluate"]
