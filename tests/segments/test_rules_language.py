import json
from datetime import date

import pytest
from hypothesis import given, settings

from segments.rules import (
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
    RuleError,
    RuleSyntaxError,
    RuleTypeError,
    Tagged,
    from_json,
    parse,
    segment_references,
    to_json,
    to_text,
)
from tests.segments.rule_strategies import AWKWARD_TEXTS, TEXTS, rules

ISSUE_EXAMPLE = (
    "rfm in (champions, loyal) and stage >= solution_aware and lang = es "
    "and clicked within 7d and not tag:customer"
)


def test_the_issue_example_parses_into_the_tree_it_means() -> None:
    assert parse(ISSUE_EXAMPLE) == AllOf(
        (
            Condition("rfm", Op.IN, ("champions", "loyal")),
            Condition("stage", Op.GE, "solution_aware"),
            Condition("lang", Op.EQ, "es"),
            Did(Action.CLICKED, within=Duration(7, "d")),
            Not(Tagged("customer")),
        )
    )
    assert to_text(parse(ISSUE_EXAMPLE)) == ISSUE_EXAMPLE


@pytest.mark.parametrize(
    ("written", "field"),
    [("AGE", "age"), ("attr.Score", "attr.Score"), ("ATTR.Score", "attr.Score"),
     ("Crm.VIP_level", "crm.VIP_level")],
)  # fmt: skip
def test_a_fields_name_is_read_whatever_its_case_but_an_attributes_own_name_is_kept(
    written: str, field: str
) -> None:
    assert parse(f"{written} = 1") == Condition(field, Op.EQ, 1)


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    a, b, c = (Condition("lang", Op.EQ, lang) for lang in ("es", "en", "ru"))
    assert parse("lang = es or lang = en and lang = ru") == AnyOf((a, AllOf((b, c))))
    assert parse("(lang = es or lang = en) and lang = ru") == AllOf((AnyOf((a, b)), c))
    assert parse("not not lang = es") == Not(Not(a))
    assert parse("NOT (Lang = es OR lang = en)") == Not(AnyOf((a, b)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age >= 25", Condition("age", Op.GE, 25)),
        ("age_band = 25-34", Condition("age_band", Op.EQ, "25-34")),
        ('city = "San Sebastián"', Condition("city", Op.EQ, "San Sebastián")),
        ("country != ES", Condition("country", Op.NE, "ES")),
        ("lang not in (es, pt)", Not(Condition("lang", Op.IN, ("es", "pt")))),
        ("email is set", Condition("email", Op.IS_SET)),
        ("phone is not set", Not(Condition("phone", Op.IS_SET))),
        ("subscribed before 2026-01-01", Condition("subscribed", Op.BEFORE, date(2026, 1, 1))),
        ("seen within 12h", Condition("seen", Op.WITHIN, Duration(12, "h"))),
        ("attr.income = high", Condition("attr.income", Op.EQ, "high")),
        ("attr.Score > 2.5", Condition("attr.Score", Op.GT, 2.5)),
        ('crm.tier = "12"', Condition("crm.tier", Op.EQ, "12")),
        ("stage >= 2", Condition("stage", Op.GE, "solution_aware")),
        (
            "activity in (active, very_active)",
            Condition("activity", Op.IN, ("active", "very_active")),
        ),
        ("rfm.r >= 4", Condition("rfm.r", Op.GE, 4)),
        ("orders >= 2", Condition("orders", Op.GE, 2)),
        ("avg_check > 49.5", Condition("avg_check", Op.GT, 49.5)),
        ("last_purchase after 2026-10-01", Condition("last_purchase", Op.AFTER, date(2026, 10, 1))),
        ("status = active", Condition("status", Op.EQ, "active")),
        ("clicked", Did(Action.CLICKED)),
        (
            "clicked >= 3 within 2w on campaign 12",
            Did(Action.CLICKED, (Op.GE, 3), Duration(2, "w"), 12),
        ),
        ("replied on campaign 4 within 1d", Did(Action.REPLIED, None, Duration(1, "d"), 4)),
        ("pressed = 0 within 30d", Did(Action.PRESSED, (Op.EQ, 0), Duration(30, "d"))),
        ("tag:vip", Tagged("vip")),
        ('tag:"black friday"', Tagged("black friday")),
        ("interest : running", Tagged("running", via_clicks=True)),
        ('in segment "big spenders"', InSegment("big spenders")),
        ("in segment vip", InSegment("vip")),
        ("buyer", HasFlag(Flag.BUYER)),
        ("viewer", HasFlag(Flag.VIEWER)),
    ],
)
def test_predicates(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "error", "column", "message"),
    [
        ("", RuleSyntaxError, 1, "expected a rule"),
        ("lang = es and", RuleSyntaxError, 14, "expected a field"),
        ("lang = es or or lang = en", RuleSyntaxError, 14, "found 'or'"),
        ("(lang = es", RuleSyntaxError, 11, "expected `and`, `or` or `)`"),
        ("lang = es)", RuleSyntaxError, 10, "expected `and` or `or`, found ')'"),
        ("lang es", RuleSyntaxError, 6, "expected an operator after lang"),
        ("lang = ", RuleSyntaxError, 8, "expected a value, found the end"),
        ("lang = and", RuleSyntaxError, 8, 'write "and" in quotes'),
        ("lang in (es, )", RuleSyntaxError, 14, "expected a value"),
        ("lang in (es en)", RuleSyntaxError, 13, "expected `,` or `)`"),
        ('city = "Madrid', RuleSyntaxError, 8, "not closed"),
        ("lang @ es", RuleSyntaxError, 6, "unexpected character '@'"),
        ("tag:", RuleSyntaxError, 5, "expected a tag"),
        ("in vip", RuleSyntaxError, 4, "expected 'segment'"),
        ("clicked within 7", RuleSyntaxError, 16, "expected a duration"),
        ("clicked >= 1.5", RuleSyntaxError, 12, "a whole number"),
        ("subscribed before 2026-02-30", RuleSyntaxError, 19, "not a date"),
        ('age > "abc"', RuleTypeError, 7, 'needs a number, not text "abc"'),
        ("age > abc", RuleTypeError, 7, "needs a number"),
        ("agee = 5", RuleTypeError, 1, "unknown field 'agee' (did you mean age?)"),
        ("lang > es", RuleTypeError, 6, "lang is text: use =, !=, in, is set"),
        ("stage >= expert", RuleTypeError, 10, "stage is one of unaware"),
        ("stage = 7", RuleTypeError, 9, "stage is one of"),
        ("rfm = vip", RuleTypeError, 7, "rfm is one of champions"),
        ("subscribed = 2026-01-01", RuleTypeError, 12, "subscribed is a moment"),
        ("subscribed within 2026-01-01", RuleTypeError, 19, "needs a duration"),
        ("attr.x > high", RuleTypeError, 10, "needs a number"),
        ("clicked on campaign 0", RuleTypeError, 21, "at least 1"),
        ("attr.bad-name = 1", RuleTypeError, 1, "unknown field"),
    ],
)
def test_bad_rules_say_where_and_what_was_expected(
    text: str, error: type[RuleError], column: int, message: str
) -> None:
    with pytest.raises(error) as raised:
        parse(text)
    assert raised.value.position == column - 1
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"at column {column}: ")
    assert raised.value.pointer(text).splitlines()[-1] == " " * (column - 1) + "^"


def test_a_configured_rfm_map_sets_the_segment_names() -> None:
    assert parse("rfm = recent", rfm_segments=("recent", "lapsed")) == Condition(
        "rfm", Op.EQ, "recent"
    )
    with pytest.raises(RuleTypeError, match="one of recent, lapsed"):
        parse("rfm = champions", rfm_segments=("recent", "lapsed"))


def test_json_form_is_plain_and_readable() -> None:
    rule = parse("clicked >= 3 within 30d or subscribed before 2026-01-01 and not tag:vip")
    assert to_json(rule) == {
        "or": [
            {"did": "clicked", "count": [">=", 3], "within": "30d"},
            {
                "and": [
                    {"field": "subscribed", "op": "before", "value": "2026-01-01"},
                    {"not": {"tag": "vip"}},
                ]
            },
        ]
    }
    assert segment_references(parse("in segment a or not in segment b and lang = es")) == {
        "a",
        "b",
    }


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "rule: expected an object"),
        ({"and": [{"tag": "a"}]}, "rule.and: expected a list of 2 or more"),
        ({"and": [{"tag": "a"}, {"tog": "b"}]}, "rule.and[1]: unknown rule ['tog']"),
        ({"field": "age", "op": ">", "value": "abc"}, 'rule: age > needs a number, not text "abc"'),
        ({"field": "agee", "op": "=", "value": 1}, "rule: unknown field 'agee'"),
        ({"field": "age", "op": "~", "value": 1}, "rule.op: expected one of ="),
        ({"field": "age", "op": "=", "value": True}, "rule.value: expected text or a number"),
        ({"field": "seen", "op": "within", "value": "7 days"}, "rule.value: expected a duration"),
        ({"field": "lang", "op": "in", "value": "es"}, "rule.value: `in` needs a list"),
        ({"did": "clicked", "count": [">", -1]}, "rule.count[1]: expected a whole number"),
        ({"did": "clicked", "count": ["in", 1]}, "rule.count[0]: expected one of ="),
        ({"did": "jumped"}, "rule.did: expected one of read"),
        ({"not": {"tag": "a"}, "x": 1}, "rule: unexpected x"),
        ({"flag": "spender"}, "rule.flag: expected one of buyer"),
        ({"segment": ""}, "rule.segment: a name is 1-64 characters"),
    ],
)
def test_bad_json_names_the_place(data: object, message: str) -> None:
    with pytest.raises(RuleError) as raised:
        from_json(data)  # type: ignore[arg-type]
    assert message in str(raised.value)


@settings(max_examples=150, deadline=None)
@given(rule=rules(TEXTS + AWKWARD_TEXTS))
def test_text_and_json_forms_round_trip(rule: Rule) -> None:
    assert parse(to_text(rule)) == rule
    assert from_json(json.loads(json.dumps(to_json(rule)))) == rule
