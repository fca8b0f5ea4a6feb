"""Hypothesis strategies for random, well-typed rule trees over a small vocabulary, so that
random rules also select some of the random subscribers they are run against."""

from datetime import date

from hypothesis import strategies as st

from segments.levels import ACTIVITY_LEVELS, STAGES
from segments.rules import (
    Action,
    AllOf,
    AnyOf,
    Condition,
    Did,
    Duration,
    Flag,
    HasFlag,
    Not,
    Op,
    Rule,
    Tagged,
)
from segments.rules.fields import FIXED_FIELDS, Kind, field_spec
from segments.rules.tree import Scalar

TEXTS = ["es", "en", "ES", "MX", "Madrid", "female", "high", "25-34", "promo"]
AWKWARD_TEXTS = ["", "San Sebastián", "and", "7d", "12", 'say "hi"', "a\\b", "2026-01-01"]
NUMBERS = [0, 1, 2, 3, 5, 18, 25, 40, 2.5, 99.99]
DATES = [date(2026, 1, 1), date(2026, 10, 15), date(2026, 10, 31)]
DURATIONS = [Duration(12, "h"), Duration(1, "d"), Duration(7, "d"), Duration(2, "w")]
TAGS = ["vip", "customer", "running", "pricing"]
ATTRIBUTE_KEYS = ["income", "score", "tier"]
COMPARE = [Op.EQ, Op.NE, Op.LT, Op.LE, Op.GT, Op.GE]


def _field_values(
    kind: Kind, choices: tuple[str, ...], texts: list[str]
) -> st.SearchStrategy[Scalar]:
    if kind is Kind.NUMBER:
        return st.sampled_from(NUMBERS)
    if kind in (Kind.CHOICE, Kind.RANK):
        return st.sampled_from(choices)
    if kind is Kind.ATTRIBUTE:
        return st.sampled_from([*texts, *NUMBERS])
    return st.sampled_from(texts)


def _fields_by_source() -> list[list[tuple[str, Kind, tuple[str, ...]]]]:
    """Fields grouped by where their value lives, so every group is drawn as often."""
    groups: dict[object, list[tuple[str, Kind, tuple[str, ...]]]] = {}
    specs = [*FIXED_FIELDS.values(), field_spec("rfm")]
    specs += [field_spec(f"{scope}.{key}") for scope in ("attr", "crm") for key in ATTRIBUTE_KEYS]
    for spec in specs:
        group = (type(spec.source), spec.kind is Kind.MOMENT)
        groups.setdefault(group, []).append((spec.name, spec.kind, spec.choices))
    return list(groups.values())


def conditions(texts: list[str]) -> st.SearchStrategy[Condition]:
    fields = st.sampled_from(_fields_by_source()).flatmap(st.sampled_from)

    @st.composite
    def build(draw: st.DrawFn) -> Condition:
        name, kind, choices = draw(fields)
        if kind is Kind.MOMENT:
            op = draw(st.sampled_from([Op.BEFORE, Op.AFTER, Op.WITHIN, Op.IS_SET]))
            if op is Op.IS_SET:
                return Condition(name, op)
            pool: list[Scalar] = [*DURATIONS] if op is Op.WITHIN else [*DATES]
            return Condition(name, op, draw(st.sampled_from(pool)))
        ordered = kind in (Kind.NUMBER, Kind.RANK, Kind.ATTRIBUTE)
        ops = [*(COMPARE if ordered else [Op.EQ, Op.NE]), Op.IN, Op.IS_SET]
        op = draw(st.sampled_from(ops))
        values = _field_values(kind, choices, texts)
        if kind is Kind.ATTRIBUTE and op in COMPARE[2:]:
            values = st.sampled_from(NUMBERS)
        if op is Op.IS_SET:
            return Condition(name, op)
        if op is Op.IN:
            return Condition(name, op, tuple(draw(st.lists(values, min_size=1, max_size=3))))
        return Condition(name, op, draw(values))

    return build()


def dids() -> st.SearchStrategy[Did]:
    return st.builds(
        Did,
        st.sampled_from(list(Action)),
        st.none() | st.tuples(st.sampled_from(COMPARE), st.integers(0, 3)),
        st.none() | st.sampled_from(DURATIONS),
        st.none() | st.sampled_from([1, 2]),
    )


def predicates(texts: list[str] = TEXTS) -> st.SearchStrategy[Rule]:
    condition = conditions(texts)  # most fields are conditions: draw them more often
    return st.one_of(
        condition,
        condition,
        condition,
        dids(),
        st.builds(Tagged, st.sampled_from(TAGS), st.booleans()),
        st.builds(HasFlag, st.sampled_from(list(Flag))),
    )


def rules(texts: list[str] = TEXTS, max_leaves: int = 6) -> st.SearchStrategy[Rule]:
    def combine(children: st.SearchStrategy[Rule]) -> st.SearchStrategy[Rule]:
        group = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(group.map(AllOf), group.map(AnyOf), children.map(Not))

    return st.recursive(predicates(texts), combine, max_leaves=max_leaves)


__all__ = ["ACTIVITY_LEVELS", "AWKWARD_TEXTS", "STAGES", "TAGS", "TEXTS", "rules"]
