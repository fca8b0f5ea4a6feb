"""The compiled rules on hand-made subscribers: what each kind of predicate selects."""

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from segments.explain import PredicateCheck, UnknownSubscriberError, explain
from segments.rules import Rule, RuleReferenceError, parse
from segments.rules.compiler import subscriber_ids
from segments.rules.evaluator import (
    CustomerFacts,
    EventFact,
    RfmFacts,
    SubscriberFacts,
    evaluate,
)
from tests.segments.population import NOW, store

DAY = timedelta(days=1)


def subscriber(
    columns: dict[str, str | datetime | None] | None = None, **facts: Any
) -> SubscriberFacts:
    defaults: dict[str, str | datetime | None] = {
        "status": "active",
        "subscribed_at": NOW - 30 * DAY,
        "last_seen_at": NOW,
    }
    return SubscriberFacts(columns=defaults | (columns or {}), **facts)


async def matching(
    session: AsyncSession,
    population: list[SubscriberFacts],
    text: str,
    segments: dict[str, Rule] | None = None,
) -> list[int]:
    """Positions (0-based) in `population` the rule selects; the evaluator must agree."""
    ids = await store(session, population)
    rule = parse(text)
    chosen = set((await session.scalars(subscriber_ids(rule, now=NOW, segments=segments))).all())
    positions = [position for position, id_ in enumerate(ids) if id_ in chosen]
    expected = [
        position
        for position, facts in enumerate(population)
        if evaluate(rule, facts, now=NOW, segments=segments)
    ]
    assert positions == expected
    return positions


SHOP = [
    subscriber(  # 0: a Spanish champion who clicked yesterday
        columns={"language_code": "es"},
        stage=3,
        events=(EventFact("link_click", NOW - DAY, campaign_id=7),),
        customers=(
            CustomerFacts(orders_count=5, total_spent=500.0, rfm=RfmFacts("champions", 5, 5, 5)),
        ),
    ),
    subscriber(  # 1: the same, but already tagged customer
        columns={"language_code": "es"},
        stage=4,
        tags=frozenset({"customer"}),
        events=(EventFact("link_click", NOW - DAY),),
        customers=(
            CustomerFacts(orders_count=2, total_spent=60.0, rfm=RfmFacts("loyal", 4, 4, 3)),
        ),
    ),
    subscriber(  # 2: clicked too long ago
        columns={"language_code": "es"},
        stage=2,
        events=(EventFact("link_click", NOW - 8 * DAY),),
        customers=(
            CustomerFacts(orders_count=2, total_spent=60.0, rfm=RfmFacts("loyal", 4, 4, 3)),
        ),
    ),
    subscriber(columns={"language_code": "en"}, stage=2),  # 3: no CRM customer at all
]


async def test_the_issue_example(session: AsyncSession) -> None:
    text = (
        "rfm in (champions, loyal) and stage >= solution_aware and lang = es "
        "and clicked within 7d and not tag:customer"
    )
    assert await matching(session, SHOP, text) == [0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attr.score = 1", [1]),
        ('attr.score = "1"', [2]),
        ("attr.score > 0", [1]),
        ("attr.score != 1", [0, 2, 3, 4, 5]),
        ("attr.score is set", [0, 1, 2, 4]),
        ("attr.score is not set", [3, 5]),
        ('attr.score in (1, "1")', [1, 2]),
    ],
)
async def test_attributes_compare_by_json_type(
    session: AsyncSession, text: str, expected: list[int]
) -> None:
    values = [True, 1, "1", None, [1]]
    population = [subscriber(attributes={"score": value}) for value in values]
    population.append(subscriber())  # no such attribute at all
    assert await matching(session, population, text) == expected


async def test_missing_data_is_false_and_not_makes_it_true(session: AsyncSession) -> None:
    population = [subscriber(columns={"city": "Madrid"}), subscriber(columns={"city": None})]
    assert await matching(session, population, "city = Madrid") == [0]
    assert await matching(session, population, "city != Madrid") == [1]
    assert await matching(session, population, "not city in (Madrid, Bilbao)") == [1]


async def test_interests_come_from_tags_and_clicked_link_tags(session: AsyncSession) -> None:
    population = [
        subscriber(tags=frozenset({"running"})),
        subscriber(events=(EventFact("link_click", NOW, payload={"tags": ["running", "x"]}),)),
        subscriber(events=(EventFact("link_click", NOW, payload={"tags": "running"}),)),
        subscriber(events=(EventFact("button", NOW, payload={"tags": ["running"]}),)),
        subscriber(tags=frozenset({"interest:running"})),  # as the quiz tags answers
        subscriber(events=(EventFact("link_click", NOW, payload={"tags": ["interest:running"]}),)),
    ]
    assert await matching(session, population, "interest:running") == [0, 1, 4, 5]
    assert await matching(session, population, "tag:running") == [0]
    assert await matching(session, population, "tag:interest:running") == [4]


async def test_event_counts_windows_and_campaigns(session: AsyncSession) -> None:
    population = [
        subscriber(),
        subscriber(events=(EventFact("link_click", NOW - DAY, campaign_id=1),)),
        subscriber(
            events=(
                EventFact("link_click", NOW - DAY, campaign_id=2),
                EventFact("link_click", NOW - 10 * DAY, campaign_id=2),
                EventFact("read", NOW - DAY, campaign_id=2),
            )
        ),
    ]
    assert await matching(session, population, "clicked >= 1") == [1, 2]
    assert await matching(session, population, "clicked = 0 within 7d") == [0]
    assert await matching(session, population, "clicked >= 2") == [2]
    assert await matching(session, population, "clicked < 2 within 2w") == [0, 1]
    assert await matching(session, population, "clicked on campaign 2 within 7d") == [2]
    assert await matching(session, population, "read and not clicked on campaign 1") == [2]
    assert await matching(session, population, "clicker") == [1, 2]
    assert await matching(session, population, "viewer") == []


async def test_purchase_facts_add_up_over_linked_customers(session: AsyncSession) -> None:
    two_accounts = (
        CustomerFacts(orders_count=1, total_spent=30.0, last_order_at=NOW - 40 * DAY),
        CustomerFacts(orders_count=2, total_spent=90.0, last_order_at=NOW - 5 * DAY),
    )
    population = [subscriber(), subscriber(customers=two_accounts)]
    assert await matching(session, population, "orders = 3 and spent = 120") == [1]
    assert await matching(session, population, "avg_check = 40") == [1]
    assert await matching(session, population, "avg_check is set") == [1]
    assert await matching(session, population, "orders = 0 and not buyer") == [0]
    assert await matching(session, population, "last_purchase within 7d") == [1]


async def test_a_subscriber_without_a_stage_is_unaware(session: AsyncSession) -> None:
    population = [subscriber(), subscriber(stage=2), subscriber(activity=3)]
    assert await matching(session, population, "stage = unaware") == [0, 2]
    assert await matching(session, population, "stage < 2") == [0, 2]
    assert await matching(session, population, "activity >= active") == [2]
    assert await matching(session, population, "activity is not set") == [0, 1]


async def test_segments_refer_to_segments(session: AsyncSession) -> None:
    saved = {"spanish": parse("lang = es"), "hot": parse("in segment spanish and stage >= 3")}
    assert await matching(session, SHOP, "in segment hot and not tag:customer", saved) == [0]
    with pytest.raises(RuleReferenceError, match="no segment named 'vip'"):
        await matching(session, SHOP, "in segment vip")
    looping = {"a": parse("in segment b"), "b": parse("lang = es and in segment a")}
    with pytest.raises(RuleReferenceError, match="cycle: a -> b -> a"):
        await matching(session, SHOP, "in segment a", looping)


async def test_explain_lists_each_predicate(session: AsyncSession) -> None:
    ids = await store(session, SHOP)
    rule = parse("lang = es and (clicked within 7d or tag:vip) and not tag:customer")
    explanation = await explain(session, subscriber_id=ids[2], rule=rule, now=NOW)
    assert not explanation.matches
    assert explanation.checks == (
        PredicateCheck("lang = es", True),
        PredicateCheck("clicked within 7d", False),
        PredicateCheck("tag:vip", False),
        PredicateCheck("tag:customer", False),
    )
    assert (await explain(session, subscriber_id=ids[0], rule=rule, now=NOW)).matches
    with pytest.raises(UnknownSubscriberError):
        await explain(session, subscriber_id=max(ids) + 1, rule=rule, now=NOW)


async def test_a_language_without_a_region_is_that_language_in_every_region(
    session: AsyncSession,
) -> None:
    speakers = [
        subscriber(columns={"language_code": code})
        for code in ("es", "es-MX", "pt-br", "est", None, "es_mx")
    ]
    assert await matching(session, speakers, "lang = es") == [0, 1]
    assert await matching(session, speakers, "lang = ES") == [0, 1]
    assert await matching(session, speakers, "lang = es-mx") == [1]
    assert await matching(session, speakers, "lang in (pt, est)") == [2, 3]
    assert await matching(session, speakers, "lang != es") == [2, 3, 4, 5]
    assert await matching(session, speakers, "lang = e_") == []  # no wildcard
