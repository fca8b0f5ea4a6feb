"""The segment builder's completion: what it offers where the rule text ends follows the
rule language (fields, the operators a field takes, its values, saved segments, joins),
and a suggestion put in place leaves the text before it as the parser read it."""

import pytest

from bot.console.segment_completion import complete, suggestions
from segments.rules import RuleError, parse

RFM = ("champions", "loyal", "at_risk")


def offered(text: str, *saved: str) -> list[str]:
    return [each.text for each in suggestions(text, rfm_segments=RFM, segment_names=saved)]


def test_an_empty_rule_offers_what_a_rule_starts_with() -> None:
    first = offered("")
    assert first[:3] == ["read", "clicked", "replied"]
    assert {"buyer", "tag:", "interest:", "in segment", "not", "lang"} <= set(first)
    assert len(first) <= 20  # a phone's worth; typing narrows the rest


def test_the_word_being_typed_narrows_the_offer() -> None:
    assert offered("la") == ["lang", "last_purchase"]
    assert offered("lang = es and st") == ["status", "stage"]
    assert offered("ST") == ["status", "stage"]  # keywords and fields read case-blind
    assert "lang" not in offered("lang")  # typed in full: nothing left to complete


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lang ", ["=", "!=", "in (", "not in (", "is set", "is not set"]),
        ("subscribed ", ["before", "after", "within", "is set", "is not set"]),
        ("age ", ["=", "!=", "<", "<=", ">", ">=", "in (", "not in (", "is set", "is not set"]),
        ("lang i", ["in (", "is set", "is not set"]),
        ("email is ", ["set", "not set"]),
        ("lang not ", ["in ("]),
        ("country in ", ["("]),
    ],
)
def test_a_field_is_followed_by_the_operators_its_kind_takes(
    text: str, expected: list[str]
) -> None:
    assert offered(text) == expected


def test_values_come_from_the_field_and_from_segbot_yaml() -> None:
    assert offered("stage >= ")[:2] == ["unaware", "problem_aware"]
    assert offered("activity = ")[-1] == "very_active"
    assert offered("rfm in (") == list(RFM)
    assert offered("rfm in (champions, ") == list(RFM)
    assert offered("rfm in (champions ") == [",", ")"]
    assert offered("status = b") == ["blocked"]
    assert offered("lang = ") == []  # any text: nothing to offer
    assert offered("subscribed within ") == ["24h", "7d", "30d", "90d", "2w"]


def test_actions_take_a_count_a_window_a_campaign_or_a_join() -> None:
    assert offered("clicked ") == [">=", "within", "on campaign", "and", "or"]
    assert offered("clicked within ") == ["24h", "7d", "30d", "90d", "2w"]
    assert offered("clicked >= 3 ") == [">=", "within", "on campaign", "and", "or"]
    assert offered("read on ") == ["campaign"]


def test_in_segment_offers_the_saved_segments_quoted_as_needed() -> None:
    assert offered("in ") == ["segment"]
    assert offered("in segment ", "vip", "big spenders") == ["vip", '"big spenders"']
    assert offered("in segment b", "vip", "big spenders") == []  # a quoted name starts with "


def test_a_whole_predicate_is_followed_by_the_joins() -> None:
    assert offered("lang = es ") == ["and", "or"]
    assert offered("(lang = es or buyer ") == ["and", "or", ")"]
    assert offered("tag:vip ") == ["and", "or"]
    assert offered("lang = es and ")[0] == "read"
    assert offered("not ")[0] == "read"


@pytest.mark.parametrize("text", ['lang = "es', "lang = es !", "bogus ", "lang = = "])
def test_a_text_gone_astray_offers_nothing(text: str) -> None:
    assert offered(text) == []


def test_complete_puts_the_pick_in_place_of_the_word_being_typed() -> None:
    assert complete("lang = es a", "and") == "lang = es and "
    assert complete("", "tag:") == "tag:"
    assert complete("country ", "in (") == "country in ("
    assert complete("rfm in (champions ", ",") == "rfm in (champions, "
    assert complete("rfm in (champions, loyal ", ")") == "rfm in (champions, loyal) "
    assert complete("lang ", "=") == "lang = "
    assert complete("lang = es and", "or") == "lang = es or "  # the word typed is replaced
    assert complete("", "attr.") == "attr."
    assert complete("x", "y" * 500) == "y" * 100 + " "


@pytest.mark.parametrize(
    "text",
    ["", "lang ", "stage >= ", "rfm in (", "rfm in (loyal ", "clicked ", "in segment ",
     "(buyer ", "email is ", "subscribed ", "lang = es and n"],
)  # fmt: skip
def test_a_suggestion_leaves_the_text_before_it_right(text: str) -> None:
    for pick in offered(text, "vip"):
        completed = complete(text, pick)
        wrong_at = error_at(completed)  # incomplete, at the pick or after it: never before
        assert wrong_at is None or wrong_at >= len(completed) - len(pick) - 1, completed


def error_at(text: str) -> int | None:
    """Where the parser finds `text` wrong (-1: not at a place), None if it is right."""
    try:
        parse(text, rfm_segments=RFM)
    except RuleError as error:
        return -1 if error.position is None else error.position
    return None
