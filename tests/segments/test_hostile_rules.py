"""Rules that push at the edges of what a database holds: each is refused with its column
and saves nothing, or means the same on SQLite, PostgreSQL and the Python evaluator; a
segment whose refresh fails fails alone."""

import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Subscriber, SubscriberStatus
from crm_sync.facts import refresh_facts, refresh_subscriber_purchases
from crm_sync.models import Customer, Order
from segments import membership
from segments.membership import REFRESH_FAILED, MembershipRefresh, refresh_memberships
from segments.models import Segment
from segments.rules import (
    JsonValue,
    RuleLimitError,
    RuleSyntaxError,
    RuleTypeError,
    from_json,
)
from segments.rules.compiler import SegmentRules
from segments.rules.evaluator import CustomerFacts, RfmFacts, SubscriberFacts, evaluate
from segments.rules.parser import parse
from segments.saved import count_matching, list_segments, save_segment
from tests.segments.population import NOW, store

DAY = timedelta(days=1)
PEOPLE = [
    SubscriberFacts(
        columns={"status": "active", "subscribed_at": NOW - DAY, "last_seen_at": NOW - DAY,
                 "language_code": "es"},
        customers=(
            CustomerFacts(orders_count=3, total_spent=30.0, last_order_at=NOW - 2 * DAY,
                          rfm=RfmFacts("champions", 5, 4, 3)),
        ),
    ),
    SubscriberFacts(
        columns={"status": "active", "subscribed_at": NOW - DAY, "last_seen_at": NOW - 400 * DAY}
    ),
]  # fmt: skip


def evaluated(rule_text: str, population: list[SubscriberFacts]) -> list[int]:
    """The people of `population` (numbered from 1) the evaluator selects."""
    rule = parse(rule_text)
    return [n for n, facts in enumerate(population, start=1) if evaluate(rule, facts, now=NOW)]


async def selected(session: AsyncSession, rule_text: str) -> list[int]:
    """The people of PEOPLE the rule selects, as many as the database counts."""
    await store(session, PEOPLE)
    expected = evaluated(rule_text, PEOPLE)
    assert await count_matching(session, rule_text=rule_text, now=NOW) == len(expected)
    return expected


@pytest.mark.parametrize(
    ("rule", "column"),
    [("seen after 9999-12-31", 12), ("last_purchase after 9999-12-31", 21),
     ("seen before 9999-12-31", 13), ("lang = es or seen after 9999-12-31", 25)],
)  # fmt: skip
async def test_a_date_with_no_next_midnight_is_refused(
    session: AsyncSession, rule: str, column: int
) -> None:
    with pytest.raises(RuleLimitError, match=f"at column {column}: a date is at most 9999-12-30"):
        await save_segment(session, name="late", rule_text=rule, now=NOW)
    with pytest.raises(RuleLimitError, match="a date is at most 9999-12-30"):
        from_json({"field": "seen", "op": "after", "value": "9999-12-31"})
    assert await list_segments(session) == []


@pytest.mark.parametrize(
    ("rule", "people"),
    [("seen after 9999-12-30", []), ("seen before 9999-12-30", [1, 2]),
     ("seen before 0001-01-01", []), ("seen after 0001-01-01", [1, 2]),
     ("last_purchase after 9999-12-30", []), ("last_purchase before 9999-12-30", [1])],
)  # fmt: skip
async def test_the_first_and_last_dates_run(
    session: AsyncSession, rule: str, people: list[int]
) -> None:
    assert await selected(session, rule) == people


@pytest.mark.parametrize(
    ("rule", "column"),
    [('lang = "\\ud800"', 8), ('tag:"\\udfff"', 5), ('interest:"a\\ud800b"', 10),
     ('attr.x = "\\udfff"', 10), ('crm.tier in (gold, "\\udc00")', 20),
     ('lang = "\\u0000"', 8), ('tag:"x\\u0000"', 5), ('interest:"\\u0000"', 10),
     ('attr.x = "a\\u0000"', 10), ('crm.tier = "\\u0000"', 12), ('city in (a, "\\u0000")', 13),
     ('lang = "\udcff"', 8)],
)  # fmt: skip
async def test_text_a_database_cannot_hold_is_refused_at_its_column(
    session: AsyncSession, rule: str, column: int
) -> None:
    """NUL and lone surrogates, written as escapes (or, the last, as a command line passes
    an undecodable byte), never reach a database."""
    with pytest.raises(RuleSyntaxError, match=f"at column {column}: quoted text cannot hold"):
        await count_matching(session, rule_text=rule, now=NOW)
    with pytest.raises(RuleSyntaxError, match=f"at column {column}:"):
        await save_segment(session, name="odd", rule_text=rule, now=NOW)
    assert await list_segments(session) == []


@pytest.mark.parametrize(
    "rule",
    [{"field": "lang", "op": "=", "value": "\x00"}, {"tag": "\ud800"},
     {"field": "attr.x", "op": "in", "value": ["a", "\udfff"]}],
)  # fmt: skip
def test_text_a_database_cannot_hold_is_refused_in_the_json_form(rule: JsonValue) -> None:
    with pytest.raises(RuleTypeError, match="text cannot hold"):
        from_json(rule)


@pytest.mark.parametrize(
    "rule",
    ["rfm.r > 40000", "rfm.r < 40000", "rfm.f != 40000", "rfm.m in (3, 40000)",
     "rfm.r >= -40000", "orders > 3000000000", "orders < 3000000000", "orders = 3000000000",
     "orders in (3, 3000000000)", "orders > 999999999999999", "orders < -999999999999999",
     "orders > 2.5", "rfm.r < 4.5", "clicked < 3000000000", "clicked != 3000000000",
     "age > 3000000000", "spent < 3000000000", "avg_check < 999999999999999"],
)  # fmt: skip
async def test_a_number_past_a_columns_type_compares_as_the_number(
    session: AsyncSession, rule: str
) -> None:
    """rfm.r/f/m are SMALLINT and orders an INTEGER; any number the language allows
    compares with them (PostgreSQL would not take 40000 as a SMALLINT parameter)."""
    await selected(session, rule)


async def money_people(session: AsyncSession, baskets: list[list[float]]) -> None:
    """One subscriber with one customer per basket of order amounts, the facts summed by
    the CRM sync's own code."""
    for number, amounts in enumerate(baskets, start=1):
        subscriber = Subscriber(
            telegram_id=number,
            chat_id=number,
            attributes={},
            status=SubscriberStatus.ACTIVE,
            subscribed_at=NOW,
            last_seen_at=NOW,
        )
        session.add(subscriber)
        await session.flush()
        customer = Customer(
            source="shop",
            external_id=f"c{number}",
            attributes={},
            subscriber_id=subscriber.id,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(customer)
        await session.flush()
        session.add_all(
            Order(
                source="shop",
                external_id=f"o{number}-{index}",
                customer_id=customer.id,
                ordered_at=NOW - (index + 1) * DAY,
                amount=amount,
                created_at=NOW,
                updated_at=NOW,
            )
            for index, amount in enumerate(amounts)
        )
        await session.flush()
        await refresh_facts(session, customer_ids=[customer.id])
    await refresh_subscriber_purchases(session)
    await session.commit()


BASKETS = [[0.10, 0.20], [0.10, 0.10, 0.10], [0.70, 0.10], [19.99, 0.01, 5.55], [0.10, 0.15]]
MONEY_RULES = [
    ("spent = 0.3", [1, 2]), ("spent != 0.3", [3, 4, 5]), ("spent = 0.8", [3]),
    ("spent = 25.55", [4]), ("spent in (0.3, 0.8, 25.55)", [1, 2, 3, 4]),
    ("spent >= 0.3", [1, 2, 3, 4]), ("spent <= 0.3", [1, 2, 5]), ("spent > 0.3", [3, 4]),
    ("spent < 0.3", [5]), ("spent = 0.25", [5]), ("spent > 0.299", [1, 2, 3, 4]),
    ("avg_check = 0.15", [1]), ("avg_check = 0.1", [2]), ("avg_check = 0.4", [3]),
    ("avg_check = 8.52", [4]), ("avg_check in (0.1, 0.13)", [2, 5]),
    ("avg_check >= 0.15", [1, 3, 4]), ("avg_check <= 0.1", [2]), ("avg_check < 0.13", [2]),
    ("avg_check = 0.125", []),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "people"), MONEY_RULES)
async def test_money_compares_to_the_cent(
    session: AsyncSession, rule: str, people: list[int]
) -> None:
    """0.10 + 0.20 is 0.30 on either database (SQLite adds floats: 0.30000000000000004),
    and an average is the total over the count to the cent, half a cent up (0.25 over 2
    orders is 0.13)."""
    await money_people(session, BASKETS)
    assert await count_matching(session, rule_text=rule, now=NOW) == len(people)
    population = [
        SubscriberFacts({}, customers=(CustomerFacts(orders_count=len(b), total_spent=sum(b)),))
        for b in BASKETS
    ]
    assert evaluated(rule, population) == people


async def test_a_segment_that_fails_to_refresh_fails_alone(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One segment's failing statement, one saved before its rule was refused, and the
    others refreshed: each failure rolled back, logged with its name and reported."""
    await store(session, PEOPLE)
    for name in ("a", "b", "c", "d"):
        await save_segment(session, name=name, rule_text="lang = es", now=NOW)
    late = {"field": "seen", "op": "after", "value": "9999-12-31"}  # refused since
    await session.execute(update(Segment).where(Segment.name == "c").values(rule=late))
    await session.commit()
    refresh_segment = membership.refresh_segment

    async def failing_on_b(
        session: AsyncSession, *, segment: Segment, rules: SegmentRules, now: datetime
    ) -> MembershipRefresh:
        if segment.name == "b":
            await session.execute(text("SELECT * FROM no_such_table"))
        return await refresh_segment(session, segment=segment, rules=rules, now=now)

    monkeypatch.setattr(membership, "refresh_segment", failing_on_b)
    outcomes = await refresh_memberships(sessionmaker, now=NOW)
    assert [(o.segment, o.size, o.error) for o in outcomes if o.segment != "c"] == [
        ("a", 1, None),
        ("b", 0, REFRESH_FAILED),
        ("d", 1, None),
    ]
    assert "a date is at most 9999-12-30" in str(outcomes[2].error)
    assert "no_such_table" not in str(outcomes)
    assert "segment b not refreshed" in caplog.text
    sizes = dict((await session.execute(select(Segment.name, Segment.size))).all())
    assert sizes == {"a": 1, "b": None, "c": None, "d": 1}


async def test_a_failing_refresh_logs_what_failed_not_the_value_it_quotes(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A database's error quotes the value it could not take, which may be a subscriber's:
    the log says the segment and the kind of error; the words go to DEBUG only."""
    await store(session, PEOPLE)
    await save_segment(session, name="b", rule_text="lang = es", now=NOW)

    async def quoting(
        session: AsyncSession, *, segment: Segment, rules: SegmentRules, now: datetime
    ) -> MembershipRefresh:
        await session.execute(text('SELECT * FROM "+34 600 111 222"'))  # quoted back
        raise AssertionError("no such table")

    monkeypatch.setattr(membership, "refresh_segment", quoting)
    with caplog.at_level(logging.INFO):
        (outcome,) = await refresh_memberships(sessionmaker, now=NOW)
    assert outcome.error == REFRESH_FAILED
    assert "segment b not refreshed: database error" in caplog.text
    assert "600 111 222" not in caplog.text
