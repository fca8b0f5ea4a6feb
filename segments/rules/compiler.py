"""A rule tree -> one SQL condition on `subscribers`, the same on SQLite and PostgreSQL.

Facts in other tables become EXISTS or correlated scalar subqueries (`sql_facts`), so the
database does all the filtering. Every compiled predicate is two-valued (never NULL), so
SQL `NOT` means what `not` means in `comparison.compare`, the Python reference.

Any rule within the language's limits (`segments.rules.limits`, checked first, with
`in segment` expanded) compiles to a statement both databases take: an `in` list is one
parameter however long (`sql_lists`), long `and` / `or` lists are shallow
(`sql_combine`), and nothing here loops or recurses by a number the rule gives.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    String,
    Subquery,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from core.models import Subscriber, SubscriberStatus
from segments.rules.comparison import compare, day_start
from segments.rules.errors import RuleReferenceError
from segments.rules.fields import (
    LANGUAGE_FIELD,
    CustomerAttribute,
    FieldSpec,
    Kind,
    Level,
    PurchaseFact,
    RfmFact,
    SubscriberAttribute,
    SubscriberColumn,
    field_spec,
)
from segments.rules.sql_combine import all_of, any_of
from segments.rules.sql_facts import (
    aggregate_holds,
    average_money,
    buyer,
    customer_exists,
    event_counts,
    event_exists,
    level_holds,
    money,
    purchase_totals,
    rfm_exists,
    tagged,
)
from segments.rules.sql_json import json_is_set, json_number, json_text
from segments.rules.sql_lists import in_values
from segments.rules.tree import (
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
    Value,
    check_limits,
)

SegmentRules = Mapping[str, Rule]
# A purchase fact's value for a subscriber with no customer.
_WITHOUT_CUSTOMER: dict[PurchaseFact, int | None] = {
    PurchaseFact.COUNT: 0,
    PurchaseFact.TOTAL: 0,
    PurchaseFact.LAST: None,
}


def subscriber_ids(
    rule: Rule, *, now: datetime, segments: SegmentRules | None = None
) -> Select[int]:
    """SELECT the ids of the subscribers `rule` holds for at `now`."""
    return select(Subscriber.id).where(condition(rule, now=now, segments=segments))


def count(rule: Rule, *, now: datetime, segments: SegmentRules | None = None) -> Select[int]:
    """SELECT how many subscribers `rule` holds for at `now`."""
    where = condition(rule, now=now, segments=segments)
    return select(func.count()).select_from(Subscriber).where(where)


def condition(
    rule: Rule,
    *,
    now: datetime,
    segments: SegmentRules | None = None,
    among: Select[int] | None = None,
) -> ColumnElement[bool]:
    """The condition on a `subscribers` row; `segments` resolves `in segment NAME`.
    RuleReferenceError reports a missing segment or a cycle, RuleLimitError a rule (with
    the segments it refers to) beyond the limits.

    `among` (a SELECT of subscriber ids) promises the condition is only asked of those
    subscribers: it then holds for them exactly as without it, and the facts it
    aggregates (event counts) are aggregated for them alone."""
    check_limits(rule, segments=segments or {})
    return _Compiler(now, segments or {}, among).rule(rule)


@dataclass
class _Compiler:
    now: datetime
    segments: SegmentRules
    among: Select[int] | None = None
    expanding: list[str] = field(default_factory=list)

    def rule(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, AllOf):
            return all_of([self.rule(item) for item in rule.items])
        if isinstance(rule, AnyOf):
            return any_of([self.rule(item) for item in rule.items])
        if isinstance(rule, Not):
            return not_(self.rule(rule.item))
        if isinstance(rule, Condition):
            return self.condition(rule)
        if isinstance(rule, Did):
            return self.did(rule)
        if isinstance(rule, Tagged):
            return tagged(rule.names, via_clicks=rule.via_clicks)
        if isinstance(rule, HasFlag):
            return self.flag(rule.flag)
        return self.segment(rule)

    def segment(self, reference: InSegment) -> ColumnElement[bool]:
        if reference.name in self.expanding:
            cycle = " -> ".join([*self.expanding, reference.name])
            raise RuleReferenceError(f"segments refer to each other in a cycle: {cycle}")
        if reference.name not in self.segments:
            raise RuleReferenceError(f"no segment named {reference.name!r}")
        self.expanding.append(reference.name)
        try:
            return self.rule(self.segments[reference.name])
        finally:
            self.expanding.pop()

    def flag(self, flag: Flag) -> ColumnElement[bool]:
        if flag is Flag.BUYER:
            return buyer()
        clicked = event_exists(Action.CLICKED, since=None, campaign=None)
        if flag is Flag.CLICKER:
            return clicked
        return and_(event_exists(Action.READ, since=None, campaign=None), not_(clicked))

    def did(self, did: Did) -> ColumnElement[bool]:
        since = self.now - did.within.span if did.within else None
        happened = event_exists(did.action, since=since, campaign=did.campaign)
        if did.count is None:
            return happened
        op, wanted = did.count
        if op is Op.NE:
            return not_(self.did(replace(did, count=(Op.EQ, wanted))))
        # "At least once" and "never" need no count. A comparison with `wanted` changes
        # its truth over the counts 1, 2, ... only at wanted or wanted + 1, so these
        # counts decide whether it is the same for every count from 1 on.
        at_zero = compare(op, 0, wanted, now=self.now)
        from_one = {compare(op, n, wanted, now=self.now) for n in {1, wanted, wanted + 1} - {0}}
        if from_one == {not at_zero}:
            return happened if from_one == {True} else not_(happened)
        return aggregate_holds(
            event_counts(did.action, since=since, campaign=did.campaign, among=self.among),
            lambda counts: _test(counts.c.events, op, wanted),
            holds_without_row=at_zero,
        )

    def condition(self, rule: Condition) -> ColumnElement[bool]:
        if rule.op is Op.NE:
            return not_(self.condition(replace(rule, op=Op.EQ)))
        spec = field_spec(rule.field, rfm_segments=_names_in(rule))
        source = spec.source
        if isinstance(source, SubscriberColumn):
            value = rule.value
            if spec.name == LANGUAGE_FIELD and rule.op in (Op.EQ, Op.IN):
                return _speaks(getattr(Subscriber, source.column), value)
            if spec.name == "status":
                value = _mapped(value, lambda each: SubscriberStatus(str(each)))
            return self.test(getattr(Subscriber, source.column), rule.op, value)
        if isinstance(source, SubscriberAttribute):
            return self.attribute(Subscriber.attributes, source.key, spec, rule)
        if isinstance(source, CustomerAttribute):
            return customer_exists(lambda doc: self.attribute(doc, source.key, spec, rule))
        if isinstance(source, RfmFact):
            fact = None if rule.op is Op.IS_SET else source
            return rfm_exists(fact, lambda column: self.test(column, rule.op, rule.value))
        if isinstance(source, Level):
            return self.level(source, spec, rule)
        if source is PurchaseFact.AVERAGE:
            return self.average(rule)
        without_customer = _WITHOUT_CUSTOMER[source]

        def holds(totals: Subquery) -> ColumnElement[bool]:
            fact: SQLColumnExpression[Any] = totals.c[source.value]
            if source is PurchaseFact.TOTAL:
                fact = money(fact)
            return self.test(fact, rule.op, rule.value)

        return aggregate_holds(
            purchase_totals(source),
            holds,
            holds_without_row=compare(rule.op, without_customer, rule.value, now=self.now),
        )

    def level(self, level: Level, spec: FieldSpec, rule: Condition) -> ColumnElement[bool]:
        ranks = _mapped(rule.value, lambda name: spec.choices.index(str(name)))
        without_row = 0 if level is Level.STAGE else None  # no stage yet is stage 0
        return level_holds(
            level,
            lambda column: self.test(column, rule.op, ranks),
            holds_without_row=compare(rule.op, without_row, ranks, now=self.now),
        )

    def average(self, rule: Condition) -> ColumnElement[bool]:
        """avg_check: the total over the count, to the cent as `comparison.average_money`."""

        def holds(totals: Subquery) -> ColumnElement[bool]:
            orders, spent = totals.c[PurchaseFact.COUNT], totals.c[PurchaseFact.TOTAL]
            if rule.op is Op.IS_SET:
                return orders > 0
            return and_(orders > 0, _test(average_money(spent, orders), rule.op, rule.value))

        totals = purchase_totals(PurchaseFact.COUNT, PurchaseFact.TOTAL)
        return aggregate_holds(totals, holds, holds_without_row=False)

    def attribute(
        self, document: SQLColumnExpression[Any], key: str, spec: FieldSpec, rule: Condition
    ) -> ColumnElement[bool]:
        """A JSON attribute: text values compare with a JSON string, numbers with a number."""
        if rule.op is Op.IS_SET:
            return json_is_set(document, key)
        values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
        texts = [value for value in values if isinstance(value, str)]
        numbers = [value for value in values if not isinstance(value, str)]
        tests = []
        for found, typed, kinds in (
            (texts, json_text, (Kind.TEXT, Kind.ATTRIBUTE)),
            (numbers, json_number, (Kind.NUMBER, Kind.ATTRIBUTE)),
        ):
            if found and spec.kind in kinds:
                value = tuple(found) if rule.op is Op.IN else found[0]
                tests.append(self.test(typed(document, key), rule.op, value))
        return or_(false(), *tests)

    def test(self, column: SQLColumnExpression[Any], op: Op, value: Any) -> ColumnElement[bool]:
        """`column <op> value` for one row, false when the column is NULL."""
        if op is Op.IS_SET:
            return column.is_not(None)
        if op is Op.WITHIN and isinstance(value, Duration):
            return and_(column.is_not(None), column >= self.now - value.span)
        if op is Op.BEFORE and isinstance(value, date):
            return and_(column.is_not(None), column < day_start(value))
        if op is Op.AFTER and isinstance(value, date):
            after = day_start(value) + timedelta(days=1)
            return and_(column.is_not(None), column >= after)
        return and_(column.is_not(None), _test(column, op, value))


def _test(column: SQLColumnExpression[Any], op: Op, value: Any) -> ColumnElement[bool]:
    if op is Op.IN:
        return in_values(column, list(value))
    if isinstance(value, int | float) and not isinstance(value, bool):
        # Bound as the number it is, not as the column's type: a rule's number (up to
        # 10^15) does not fit a SMALLINT or INTEGER column, and PostgreSQL compares those
        # with a BIGINT exactly (indexes included) and with a DOUBLE PRECISION as one.
        value = literal(value, BigInteger() if isinstance(value, int) else Float())
    tested: ColumnElement[bool]
    if op is Op.EQ:
        tested = column == value
    elif op is Op.LT:
        tested = column < value
    elif op is Op.LE:
        tested = column <= value
    elif op is Op.GT:
        tested = column > value
    elif op is Op.GE:
        tested = column >= value
    else:
        raise ValueError(f"{op} is not a comparison")  # the type check rules it out
    return tested


def _speaks(column: SQLColumnExpression[Any], value: Value) -> ColumnElement[bool]:
    """`lang = es` in SQL, as comparison.speaks says: es in any region, es-mx only itself.
    Two list parameters whatever the length of an `in` list (an OR per code would be past
    SQLite's depth at the list's longest)."""
    given = value if isinstance(value, tuple) else (value,)
    wanted = [each.lower() for each in given if isinstance(each, str)]  # no number is a code
    exact = [each for each in wanted if "-" in each]
    languages = [each for each in wanted if "-" not in each]
    code = func.lower(column)
    tests = [in_values(code, exact)] if exact else []
    if languages:
        tests.append(in_values(_PrimarySubtag(code), languages))
    return and_(column.is_not(None), or_(false(), *tests))


class _PrimarySubtag(FunctionElement[str]):
    """A language tag's language: what comes before its first `-` (`es-mx`: `es`)."""

    type = String()
    inherit_cache = True
    name = "primary_subtag"


@compiles(_PrimarySubtag, "sqlite")
def _sqlite_primary(element: _PrimarySubtag, compiler: SQLCompiler, **kw: Any) -> str:
    ended = f"({compiler.process(element.clauses, **kw)} || '-')"  # a `-` to stop at, always
    return f"substr({ended}, 1, instr({ended}, '-') - 1)"


@compiles(_PrimarySubtag, "postgresql")
def _postgresql_primary(element: _PrimarySubtag, compiler: SQLCompiler, **kw: Any) -> str:
    return f"split_part({compiler.process(element.clauses, **kw)}, '-', 1)"


def _names_in(rule: Condition) -> tuple[str, ...]:
    """The rule was type-checked when parsed: any rfm segment name it holds is accepted."""
    values = rule.value if isinstance(rule.value, tuple) else (rule.value,)
    return tuple(str(value) for value in values)


def _mapped(value: Any, convert: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(convert(each) for each in value)
    return None if value is None else convert(value)


__all__ = ["Scalar", "SegmentRules", "condition", "count", "subscriber_ids"]
