"""A rule tree back to its text form: canonical, and parsed back into the same tree."""

from datetime import date

from segments.rules.tokens import KEYWORDS, TokenKind, bare_kind, quote
from segments.rules.tree import (
    AllOf,
    AnyOf,
    Condition,
    Did,
    Duration,
    HasFlag,
    Not,
    Rule,
    Scalar,
    Tagged,
)


def to_text(rule: Rule) -> str:
    if isinstance(rule, AnyOf):
        return " or ".join(_grouped(item, isinstance(item, AnyOf)) for item in rule.items)
    if isinstance(rule, AllOf):
        return " and ".join(_grouped(item, isinstance(item, AnyOf | AllOf)) for item in rule.items)
    if isinstance(rule, Not):
        inner = rule.item
        if isinstance(inner, Condition) and isinstance(inner.value, tuple):
            return f"{inner.field} not in {_list(inner.value)}"
        if isinstance(inner, Condition) and inner.value is None:
            return f"{inner.field} is not set"
        return f"not {_grouped(inner, isinstance(inner, AnyOf | AllOf))}"
    if isinstance(rule, Condition):
        if isinstance(rule.value, tuple):  # `in`
            return f"{rule.field} in {_list(rule.value)}"
        if rule.value is None:  # `is set`
            return f"{rule.field} is set"
        return f"{rule.field} {rule.op} {literal(rule.value)}"
    if isinstance(rule, Did):
        words = [str(rule.action)]
        if rule.count is not None:
            words.append(f"{rule.count[0]} {rule.count[1]}")
        if rule.within is not None:
            words.append(f"within {rule.within}")
        if rule.campaign is not None:
            words.append(f"on campaign {rule.campaign}")
        return " ".join(words)
    if isinstance(rule, Tagged):
        return f"{'interest' if rule.via_clicks else 'tag'}:{name(rule.tag)}"
    if isinstance(rule, HasFlag):
        return str(rule.flag)
    return f"in segment {name(rule.name)}"


def literal(value: Scalar) -> str:
    """A value as the parser reads it back with the same type."""
    if isinstance(value, str):
        return name(value)
    if isinstance(value, Duration):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return repr(value)


def name(text: str) -> str:
    """Bare when it reads back as a plain word, quoted otherwise."""
    plain = bare_kind(text) is TokenKind.WORD and text.lower() not in KEYWORDS
    return text if plain else quote(text)


def _grouped(rule: Rule, parenthesised: bool) -> str:
    return f"({to_text(rule)})" if parenthesised else to_text(rule)


def _list(values: tuple[Scalar, ...]) -> str:
    return f"({', '.join(literal(value) for value in values)})"
