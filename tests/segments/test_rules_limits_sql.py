"""Rules at the language's limits run on SQLite and PostgreSQL alike and select what the
Python evaluator selects; saving a segment keeps every saved segment within the limits."""

from datetime import timedelta

import pytest
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Subscriber
from segments.membership import refresh_memberships
from segments.rules import AllOf, AnyOf, Condition, Op, Rule, RuleLimitError, parse
from segments.rules.compiler import SegmentRules, condition, subscriber_ids
from segments.rules.evaluator import (
    CustomerFacts,
    EventFact,
    RfmFacts,
    SubscriberFacts,
    evaluate,
)
from segments.rules.limits import MAX_LIST, MAX_NESTING, MAX_TERMS
from segments.saved import list_segments, save_segment
from tests.segments.population import NOW, store

DAY = timedelta(days=1)
BIGGEST = 10**15 - 1
PEOPLE = [
    SubscriberFacts(
        columns={"status": "active", "subscribed_at": NOW - 30 * DAY, "last_seen_at": NOW,
                 "language_code": "es", "city": "Madrid"},
        attributes={"age": 30, "score": 2},
        tags=frozenset({"vip"}),
        events=(EventFact("link_click", NOW - DAY, campaign_id=7),),
        customers=(
            CustomerFacts({"tier": "gold"}, 2, 50.0, NOW - 9 * DAY, RfmFacts("champions", 5, 5, 5)),
        ),
        stage=3,
        activity=3,
    ),
    SubscriberFacts(
        columns={"status": "blocked", "subscribed_at": NOW - 400 * DAY, "last_seen_at": NOW,
                 "language_code": "en"},
        attributes={"age": 41, "score": "x"},
        events=(EventFact("message", NOW - 2 * DAY),),
        stage=1,
    ),
    SubscriberFacts(
        columns={"status": "active", "subscribed_at": NOW - DAY, "last_seen_at": NOW - DAY}
    ),
]  # fmt: skip
# Predicates of every kind, to fill a rule up to its limits.
TERMS = [
    "lang = es", "clicked within 7d", "tag:vip", "orders >= 2", "attr.score in (1, 2)",
    "crm.tier = gold", "stage >= 2", "rfm in (champions, loyal)", "buyer",
    "avg_check in (25, 30)", "interest:running", "seen within 36500d",
    f"age < {BIGGEST}", f"clicked >= {BIGGEST}", f"clicked on campaign {BIGGEST}",
    "status = active", "not replied", "activity in (active, cold)", "city is not set",
    "last_purchase after 2026-01-01",
]  # fmt: skip


def terms(count: int) -> list[str]:
    return [TERMS[number % len(TERMS)] for number in range(count)]


def nested(levels: int) -> str:
    text = "lang = es"
    for number, term in enumerate(terms(levels // 2)):
        text = f"not ({term} {'or' if number % 2 else 'and'} {text})"
    return text


AT_THE_LIMITS = [
    " or ".join(terms(MAX_TERMS)),
    " and ".join(terms(MAX_TERMS)),
    " or ".join(f"({' and '.join(terms(10))})" for _ in range(MAX_TERMS // 10)),
    nested(MAX_NESTING),
    f"lang in ({', '.join(['es'] * MAX_LIST)})",
    f"clicked >= {BIGGEST} or clicked on campaign {BIGGEST} or seen within 5214w",
]


async def selected(session: AsyncSession, rule: Rule, segments: SegmentRules) -> set[int]:
    ids = await store(session, PEOPLE)
    found = set((await session.scalars(subscriber_ids(rule, now=NOW, segments=segments))).all())
    expected = {
        subscriber_id
        for subscriber_id, facts in zip(ids, PEOPLE, strict=True)
        if evaluate(rule, facts, now=NOW, segments=segments)
    }
    assert found == expected
    return found


@pytest.mark.parametrize("text", AT_THE_LIMITS, ids=range(len(AT_THE_LIMITS)))
async def test_a_rule_at_the_limits_runs(session: AsyncSession, text: str) -> None:
    await selected(session, parse(text), {})


def lists(count: int) -> Rule:
    """`count` `in` lists of the longest length, of every kind of value."""
    filler = range(1_000, 1_000 + MAX_LIST - 1)
    kinds = [
        Condition("lang", Op.IN, (*(f"l{n}" for n in filler), "es")),
        Condition("age", Op.IN, (*filler, 41)),
        Condition("orders", Op.IN, (*filler, 2)),
        Condition("avg_check", Op.IN, (*(n + 0.5 for n in filler), 25.0)),
        Condition("attr.score", Op.IN, ("x",) * (MAX_LIST // 2) + (2,) * (MAX_LIST // 2)),
        Condition("stage", Op.IN, ("product_aware",) * MAX_LIST),
        Condition("rfm", Op.IN, ("champions",) * MAX_LIST),
        Condition("status", Op.IN, ("blocked",) * MAX_LIST),
    ]
    return AnyOf(tuple(kinds[number % len(kinds)] for number in range(count)))


async def test_in_lists_take_one_parameter_each(session: AsyncSession) -> None:
    """Two rules full of lists in one statement (as a campaign's targets are): 60,000
    values, more parameters than asyncpg (32,767) or SQLite (32,766) take, had each value
    been one."""
    everyone = lists(MAX_TERMS)
    english = AllOf((lists(8), Condition("lang", Op.IN, ("en",) * MAX_LIST)))
    assert len(await selected(session, everyone, {})) == 2
    assert len(await selected(session, english, {})) == 1
    either = or_(condition(everyone, now=NOW), condition(lists(MAX_TERMS), now=NOW))
    assert await session.scalar(select(func.count()).select_from(Subscriber).where(either)) == 2


async def test_rules_or_ed_together_stay_shallow(session: AsyncSession) -> None:
    """Rules of the most conditions or-ed (a campaign's targets, earlier ones excluded)
    make a chain SQLite would parse over 1,000 levels deep, past its limit."""
    await store(session, PEOPLE)
    # Past 1,000 conditions on SQLite, whose parser has that depth limit; PostgreSQL has
    # none, and planning a thousand EXISTS takes it minutes on a busy machine.
    sqlite = session.get_bind().dialect.name == "sqlite"
    count = 1_000 // MAX_TERMS + 1 if sqlite else 4
    rules = [parse(" or ".join([f"tag:t{number}"] * MAX_TERMS)) for number in range(count)]
    anyone = or_(*(condition(rule, now=NOW) for rule in [*rules, parse("tag:vip")]))
    assert await session.scalar(select(func.count()).select_from(Subscriber).where(anyone)) == 1


async def test_saving_keeps_the_segments_that_refer_to_each_other_within_the_limits(
    session: AsyncSession,
) -> None:
    await save_segment(session, name="a", rule_text=" or ".join(terms(20)), now=NOW)
    await save_segment(session, name="b", rule_text=" or ".join(terms(MAX_TERMS - 20)), now=NOW)
    await save_segment(session, name="top", rule_text="in segment a or in segment b", now=NOW)
    with pytest.raises(RuleLimitError, match="at most 30 conditions, counting the segments"):
        await save_segment(session, name="more", rule_text="in segment top or tag:x", now=NOW)
    await session.rollback()
    with pytest.raises(RuleLimitError, match="segment 'top' refers to it: a rule has at most"):
        await save_segment(session, name="b", rule_text=" or ".join(terms(MAX_TERMS - 19)), now=NOW)
    await session.rollback()
    await save_segment(session, name="deep", rule_text=f"not ({nested(18)})", now=NOW)
    with pytest.raises(RuleLimitError, match="levels of parentheses and `not`, counting"):
        await save_segment(session, name="deeper", rule_text="not in segment deep", now=NOW)
    await session.rollback()
    saved = {segment.name: segment.version for segment in await list_segments(session)}
    assert saved == {"a": 1, "b": 1, "deep": 1, "top": 1}


async def test_a_segment_at_the_limits_refreshes(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await store(session, PEOPLE)
    text = " or ".join(terms(MAX_TERMS))
    await save_segment(session, name="everything", rule_text=text, now=NOW)
    (refreshed,) = await refresh_memberships(sessionmaker, now=NOW)
    expected = [facts for facts in PEOPLE if evaluate(parse(text), facts, now=NOW)]
    assert (refreshed.error, refreshed.size) == (None, len(expected))
