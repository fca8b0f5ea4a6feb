"""What a rule reads, and which changes it can see."""

from dataclasses import dataclass

import pytest

from core.models import EventType
from segments.changes import changes_of_events, facts_of_event
from segments.rules import parse
from segments.rules.dependencies import EVERYTHING, Fact, FactKind, dependencies, depends_on

E, T, P, A = FactKind.EVENT, FactKind.TAG, FactKind.PROFILE, FactKind.ATTRIBUTE


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("clicked within 7d and lang = es", {(E, "link_click"), (P, "language_code")}),
        ("replied >= 2 on campaign 3", {(E, "message")}),
        ("interest:running", {(T, "running"), (T, "interest:running"), (E, "link_click")}),
        ("tag:vip or not pressed", {(T, "vip"), (E, "button")}),
        ("viewer", {(E, "read"), (E, "link_click")}),
        ("buyer and orders >= 2 and avg_check > 5", {(FactKind.PURCHASES, None)}),
        ("rfm = champions or rfm.r >= 4", {(FactKind.RFM, None)}),
        ("crm.tier = gold and attr.income = high", {(FactKind.CUSTOMER, "tier"), (A, "income")}),
        ("age >= 18 and status = active", {(A, "age"), (P, "status")}),
        ("stage >= 2 and activity = dormant", {(FactKind.STAGE, None), (FactKind.ACTIVITY, None)}),
        (
            "subscribed within 30d and seen after 2026-01-01",
            {(P, "subscribed_at"), (P, "last_seen_at")},
        ),
    ],
)
def test_a_rule_reads_what_its_predicates_ask(text: str, facts: set[tuple[FactKind, str]]) -> None:
    assert dependencies(parse(text)) == {Fact(kind, name) for kind, name in facts}


def test_named_segments_are_read_through_and_cycles_end() -> None:
    segments = {"es": parse("lang = es and in segment loop"), "loop": parse("in segment es")}
    assert dependencies(parse("in segment es and tag:vip"), segments=segments) == {
        Fact(P, "language_code"),
        Fact(T, "vip"),
    }


def test_a_change_without_a_name_stands_for_every_name_of_its_kind() -> None:
    read = dependencies(parse("tag:vip and lang = es"))
    assert depends_on(read, [Fact(T)])
    assert depends_on(read, [Fact(P, "language_code")])
    assert not depends_on(read, [Fact(T, "customer"), Fact(P, "status"), Fact(E)])
    assert depends_on(dependencies(parse("attr.income = high")), EVERYTHING)


@dataclass(frozen=True)
class Logged:
    subscriber_id: int
    type: str


def test_events_say_what_changed_for_whom() -> None:
    changes = changes_of_events(
        [Logged(1, EventType.BUTTON), Logged(1, EventType.UNSUBSCRIBED), Logged(2, "reaction")]
    )
    assert changes[1] == {
        Fact(E, "button"),
        Fact(E, "unsubscribed"),
        Fact(P, "status"),
        Fact(P, "last_seen_at"),
    }
    assert changes[2] == {Fact(E, "reaction"), Fact(P, "last_seen_at")}
    assert facts_of_event(EventType.FORGOTTEN) >= EVERYTHING
    assert Fact(FactKind.RFM) in facts_of_event(EventType.CONTACT_SHARED)  # it may link a customer
