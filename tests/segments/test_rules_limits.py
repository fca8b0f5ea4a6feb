"""The rule language's limits: a rule beyond them is refused with a RuleLimitError at the
column where the limit is crossed (from JSON, naming the limit), never a Python crash;
a rule within them parses. (Running rules at the limits: test_rules_limits_sql.py.)"""

from datetime import UTC, datetime

import pytest

from segments.rules import (
    Action,
    AnyOf,
    Condition,
    Did,
    Duration,
    JsonValue,
    Op,
    Rule,
    RuleError,
    RuleLimitError,
    RuleReferenceError,
    Tagged,
    check_limits,
    from_json,
    parse,
    to_text,
)
from segments.rules.compiler import condition
from segments.rules.errors import MAX_MESSAGE, WINDOW
from segments.rules.limits import MAX_LENGTH, MAX_LIST, MAX_NESTING, MAX_TERMS

NOW = datetime(2026, 11, 1, tzinfo=UTC)
NINES = "9" * 5_000  # more digits than Python turns into an int


def ors(count: int, term: str = "tag:a") -> str:
    return " or ".join([term] * count)


def listed(count: int, value: str = "es") -> str:
    return f"lang in ({', '.join([value] * count)})"


# The cases (and the limit each crosses first), with the column it is reported at.
BEYOND = [
    ("(" * 990 + "lang = es" + ")" * 990, 21, "nests at most 20 levels"),
    ("not " * 21 + "lang = es", 81, "nests at most 20 levels"),
    ("not " * 5_000 + "lang = es", MAX_LENGTH + 1, "at most 10,000 characters"),
    (f"age > {NINES}", 7, "a number is between -10^15 and 10^15"),
    ("age > 1e999", 7, "a number is between -10^15 and 10^15"),
    ("attr.score = -1000000000000000", 14, "a number is between"),
    (f"clicked >= {NINES}", 12, "a number is between"),
    (f"clicked on campaign {NINES}", 21, "a number is between"),
    (f"seen within {NINES}d", 13, "a duration is at most 36500d"),
    ("clicked within 36501d", 16, "a duration is at most 36500d"),
    ("subscribed within 5215w", 19, "a duration is at most 36500d"),
    (ors(MAX_TERMS + 1), 9 * MAX_TERMS + 1, "at most 30 conditions"),
    (ors(2_000, "lang = es"), MAX_LENGTH + 1, "at most 10,000 characters"),
    (ors(20_000, "clicked within 7d"), MAX_LENGTH + 1, "at most 10,000 characters"),
    (listed(MAX_LIST + 1), 10 + 4 * MAX_LIST, "an `in` list has at most 1,000 values"),
    (listed(50_000), MAX_LENGTH + 1, "at most 10,000 characters"),
]


@pytest.mark.parametrize(("text", "column", "message"), BEYOND)
def test_a_rule_beyond_a_limit_is_refused_where_it_crosses_it(
    text: str, column: int, message: str
) -> None:
    with pytest.raises(RuleLimitError) as raised:
        parse(text)
    assert raised.value.position == column - 1
    assert str(raised.value).startswith(f"at column {column}: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(("text", "column", "message"), BEYOND)
def test_the_pointer_shows_a_short_window_with_the_caret_in_place(
    text: str, column: int, message: str
) -> None:
    with pytest.raises(RuleLimitError) as raised:
        parse(text)
    shown, caret = raised.value.pointer(text).splitlines()
    assert len(shown) <= 2 * WINDOW + 2
    assert caret == " " * caret.index("^") + "^"
    if column <= len(text):
        assert shown[caret.index("^")] == text[column - 1]


def deeply(levels: int) -> str:
    """`levels` of nesting, alternating `not (` groups and plain `not`s."""
    text = "lang = es"
    for level in range(levels // 2):
        text = f"not (tag:t{level} or {text})"
    return "not " * (levels % 2) + text


def test_a_rule_within_every_limit_parses() -> None:
    assert parse(deeply(MAX_NESTING))
    assert parse(ors(MAX_TERMS)) == AnyOf((Tagged("a"),) * MAX_TERMS)
    assert parse(listed(MAX_LIST)) == Condition("lang", Op.IN, ("es",) * MAX_LIST)
    longest = 'city = "' + "x" * (MAX_LENGTH - 9) + '"'
    assert len(longest) == MAX_LENGTH
    assert parse(longest) == Condition("city", Op.EQ, "x" * (MAX_LENGTH - 9))
    assert parse("age < 999999999999999 and age > -999999999999999")
    assert parse("seen within 36500d or seen within 5214w or seen within 876000h")
    assert parse(f"clicked >= {10**15 - 1} on campaign {10**15 - 1}") == Did(
        Action.CLICKED, (Op.GE, 10**15 - 1), None, 10**15 - 1
    )


def test_deeper_than_the_limit_is_refused_at_the_first_level_too_deep() -> None:
    text = deeply(MAX_NESTING + 1)
    with pytest.raises(RuleLimitError, match="nests at most 20") as raised:
        parse(text)
    assert raised.value.position == text.rindex("(")  # the 21st level: the innermost group


def test_error_messages_stay_short_whatever_the_rule_quotes() -> None:
    for text in (
        "a" * 9_000 + " = 1",
        'city = "' + "x" * 9_000,
        "lang = es " + "x" * 9_000,
        "lang = es and " + "é" * 9_000,
        "age > " + '"' + "y" * 9_000 + '"',
    ):
        with pytest.raises(RuleError) as raised:
            parse(text)
        assert len(raised.value.reason) <= MAX_MESSAGE, text[:20]


def nested_json(levels: int) -> JsonValue:
    rule: JsonValue = {"tag": "a"}
    for _ in range(levels):
        rule = {"not": rule}
    return rule


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (nested_json(5_000), "nests at most 20 levels"),
        (nested_json(MAX_NESTING + 1), "nests at most 20 levels"),
        (
            {"field": "lang", "op": "in", "value": ["es"] * 50_000},
            "rule.value: an `in` list has at most 1,000 values",
        ),
        ({"or": [{"tag": "a"}] * 20_000}, "rule.or: a rule has at most 30 conditions"),
        (
            {"or": [{"tag": "a"}] * 20 + [{"and": [{"tag": "b"}] * 20}]},
            "a rule has at most 30 conditions",
        ),
        ({"field": "age", "op": ">", "value": 10**400}, "a number is between"),
        ({"field": "age", "op": ">", "value": 1e300}, "a number is between"),
        ({"did": "clicked", "count": [">=", 10**30]}, "rule.count[1]: a number is between"),
        ({"did": "clicked", "campaign": 10**30}, "rule.campaign: a number is between"),
        ({"did": "clicked", "within": NINES + "d"}, "rule.within: a duration is at most"),
        ({"field": "seen", "op": "within", "value": "36501d"}, "a duration is at most"),
    ],
)
def test_json_beyond_a_limit_is_refused_naming_the_limit(data: JsonValue, message: str) -> None:
    with pytest.raises(RuleLimitError) as raised:
        from_json(data)
    assert message in str(raised.value)


def test_json_within_the_limits_decodes() -> None:
    assert from_json(nested_json(MAX_NESTING))
    assert from_json({"field": "lang", "op": "in", "value": ["es"] * MAX_LIST})
    assert from_json({"or": [{"tag": "a"}] * MAX_TERMS})


def chain(length: int, step: str = "in segment {next}") -> dict[str, Rule]:
    """Segments s0 .. s<length>: each refers to the next (as `step` says), the last is a tag."""
    rules: dict[str, Rule] = {f"s{length}": Tagged("end")}
    for number in range(length):
        rules[f"s{number}"] = parse(step.format(next=f"s{number + 1}"))
    return rules


@pytest.mark.parametrize(
    ("segments", "message"),
    [
        # 1,000 segments each naming the next: the compiler recursed through all of them.
        (chain(1_000), "levels of parentheses and `not`, counting the segments it refers to"),
        # Each naming the next twice: 2^15 conditions once expanded.
        (
            chain(15, "in segment {next} or in segment {next}"),
            "at most 30 conditions, counting the segments it refers to",
        ),
        (
            {"a": parse(ors(20)), "b": parse(ors(15, "tag:b"))},
            "at most 30 conditions, counting the segments it refers to",
        ),
    ],
)
def test_limits_count_the_segments_a_rule_refers_to(
    segments: dict[str, Rule], message: str
) -> None:
    rule = parse("in segment s0" if "s0" in segments else "in segment a or in segment b")
    with pytest.raises(RuleLimitError, match=message):
        check_limits(rule, segments=segments)
    with pytest.raises(RuleLimitError, match=message):
        condition(rule, now=NOW, segments=segments)


def test_expanding_stops_at_a_cycle() -> None:
    segments = {"a": parse("in segment b or tag:x"), "b": parse("in segment a")}
    with pytest.raises(RuleReferenceError, match="cycle: a -> b -> a"):
        check_limits(parse("in segment a"), segments=segments)


def test_trees_built_in_code_are_held_to_the_same_limits() -> None:
    for rule in (
        Condition("seen", Op.WITHIN, Duration(10**30, "d")),
        Did(Action.CLICKED, (Op.GE, 10**20)),
        Condition("lang", Op.IN, ("es",) * (MAX_LIST + 1)),
        Condition("age", Op.GT, float("nan")),
    ):
        with pytest.raises(RuleLimitError):
            condition(rule, now=NOW)


def test_the_text_form_of_a_rule_within_the_limits_parses_back() -> None:
    for text in (deeply(MAX_NESTING), ors(MAX_TERMS), listed(MAX_LIST)):
        rule = parse(text)
        check_limits(rule)
        assert parse(to_text(rule)) == rule
