"""The segment builder's blocks: a condition made of a field, an operator and a value is
added to the rule as the rule language writes it, type-checked like typed text, and the
result is a rule the parser reads back the same."""

import pytest

from bot.console.segment_blocks import OPERATORS, add_condition
from segments.rules import (
    RuleError,
    RuleLimitError,
    RuleSyntaxError,
    RuleTypeError,
    parse,
    to_text,
)

RFM = ("champions", "loyal")


def added(rule: str, field: str, operator: str, value: str = "", join: str = "and") -> str:
    return add_condition(
        rule, field=field, operator=operator, value=value, join=join, rfm_segments=RFM
    )


@pytest.mark.parametrize(
    ("field", "operator", "value", "expected"),
    [
        ("lang", "=", "es", "lang = es"),
        ("lang", "!=", "es", "lang != es"),
        ("age", ">=", "25", "age >= 25"),
        ("spent", "<", "9.5", "spent < 9.5"),
        ("country", "in", "ES, MX", "country in (ES, MX)"),
        ("country", "not in", "(ES, MX)", "country not in (ES, MX)"),
        ("email", "is set", "", "email is set"),
        ("email", "is not set", "ignored", "email is not set"),
        ("subscribed", "within", "7d", "subscribed within 7d"),
        ("last_purchase", "before", "2026-01-31", "last_purchase before 2026-01-31"),
        ("seen", "after", "2026-01-31", "seen after 2026-01-31"),
        ("stage", ">=", "2", "stage >= solution_aware"),
        ("rfm", "in", "champions", "rfm in (champions)"),
        ("attr.income", "=", "high", "attr.income = high"),
        ("crm.tier", ">", "2", "crm.tier > 2"),
        ("City", "=", "New York", 'city = "New York"'),
        ("country", "=", "01", 'country = "01"'),
        ("city", "=", '"and"', 'city = "and"'),
    ],
)
def test_each_operator_makes_the_rule_one_would_type(
    field: str, operator: str, value: str, expected: str
) -> None:
    made = added("", field, operator, value)
    assert made == expected
    assert to_text(parse(made, rfm_segments=RFM)) == made
    assert operator in OPERATORS


def test_a_condition_joins_the_rule_with_the_meaning_kept() -> None:
    assert added("lang = es and buyer", "age", ">", "30") == "lang = es and buyer and age > 30"
    assert added("lang = es or buyer", "age", ">", "30") == "(lang = es or buyer) and age > 30"
    assert added("lang = es or buyer", "age", ">", "30", "or") == "lang = es or buyer or age > 30"
    assert added("lang = es and buyer", "age", ">", "30", "or") == (
        "lang = es and buyer or age > 30"
    )
    assert added("  ", "lang", "=", "es", "or") == "lang = es"


@pytest.mark.parametrize(
    ("field", "operator", "value", "message"),
    [
        ("langg", "=", "es", "unknown field 'langg' (did you mean lang?)"),
        ("lang", "<", "es", "lang is text: use =, !=, in, is set"),
        ("age", ">", "old", 'age > needs a number, not text "old"'),
        ("subscribed", "before", "7d", "subscribed before needs a date YYYY-MM-DD"),
        ("rfm", "=", "nope", "rfm is one of champions, loyal"),
        ("lang", "=", " ", "lang = needs a value"),
        ("lang", "like", "es", "choose an operator"),
        ("age", "in", "1,,2", "age in needs a value"),
    ],
)
def test_a_wrong_condition_says_what_is_wrong(
    field: str, operator: str, value: str, message: str
) -> None:
    with pytest.raises(RuleTypeError) as refused:
        added("lang = es", field, operator, value)
    assert message in str(refused.value)


def test_the_rule_added_to_must_be_right_and_stay_within_the_limits() -> None:
    with pytest.raises(RuleSyntaxError) as wrong:
        added("lang = es and", "age", ">", "30")
    assert wrong.value.position == len("lang = es and")
    with pytest.raises(RuleTypeError, match="join a condition with"):
        added("lang = es", "age", ">", "30", "xor")
    thirty = " and ".join(["buyer"] * 30)
    with pytest.raises(RuleLimitError, match="at most 30 conditions"):
        added(thirty, "age", ">", "30")
    with pytest.raises(RuleError) as too_big:
        added("", "age", ">", "1" + "0" * 20)  # beyond the numbers a rule may hold
    assert too_big.value.position is None  # the condition's fault: the page says so
    assert str(too_big.value).startswith("age >: a number is between -10^15 and 10^15")
    with pytest.raises(RuleError) as too_long:
        added("", "lang", "=", "x" * 10_001)
    assert too_long.value.position is None
    assert str(too_long.value).startswith("this condition cannot be added: a rule is at most")
