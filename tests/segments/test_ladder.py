from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ConfigError
from core.models import Event, EventType, Subscriber, SubscriberTag
from crm_sync.models import Customer
from segments.config import LadderConfig, load_segments_config
from segments.ladder import StageCount, ladder, refresh_ladder
from segments.models import LadderStage

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CONFIG = LadderConfig.model_validate(
    {
        "window_days": 90,
        "step_down_after_days": 30,
        "evidence": {
            "problem_aware": [{"link_tag": "problem"}, {"start_source": "blog"}],
            "solution_aware": [{"quiz": "need=comparing"}],
            "product_aware": [{"button": "ask_price"}],
            "most_aware": [{"crm": "order"}, {"tag": "ladder:most_aware"}],
        },
    }
)


async def person(session: AsyncSession, number: int, *, seen: datetime = NOW) -> int:
    subscriber = Subscriber(
        telegram_id=number, chat_id=number, subscribed_at=NOW - 300 * DAY, last_seen_at=seen,
        attributes={},
    )  # fmt: skip
    session.add(subscriber)
    await session.flush()
    return subscriber.id


def event(subscriber_id: int, kind: EventType, at: datetime, **payload: Any) -> Event:
    return Event(subscriber_id=subscriber_id, type=kind, occurred_at=at, payload=payload)


async def stages(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(select(LadderStage.subscriber_id, LadderStage.stage))
    return {subscriber_id: int(stage) for subscriber_id, stage in rows.all()}


async def stage_events(session: AsyncSession) -> dict[int, dict[str, object]]:
    rows = await session.execute(
        select(Event.subscriber_id, Event.payload).where(Event.type == EventType.STAGE_CHANGED)
    )
    return {subscriber_id: dict(payload) for subscriber_id, payload in rows.all()}


async def test_stage_is_the_highest_evidenced_in_the_window(session: AsyncSession) -> None:
    clicked = await person(session, 1, seen=NOW - 10 * DAY)
    session.add(event(clicked, EventType.LINK_CLICK, NOW - 10 * DAY, tags=["problem", "x"]))
    climbing = await person(session, 2)
    session.add_all(
        [
            event(climbing, EventType.LINK_CLICK, NOW - 5 * DAY, tags=["problem"]),
            event(climbing, EventType.BUTTON, NOW - 3 * DAY, data="ask_price"),
            event(climbing, EventType.BUTTON, NOW - 2 * DAY, data="ask_price_later"),
        ]
    )
    too_old = await person(session, 3)
    session.add(event(too_old, EventType.BUTTON, NOW - 100 * DAY, data="ask_price"))
    silent = await person(session, 4, seen=NOW - 50 * DAY)
    session.add(
        event(silent, EventType.QUIZ_ANSWER, NOW - 50 * DAY, question="need", answers=["comparing"])
    )
    buyer = await person(session, 5, seen=NOW - 200 * DAY)
    session.add(
        Customer(
            source="shop", external_id="5", attributes={}, subscriber_id=buyer, orders_count=1,
            last_order_at=NOW - 20 * DAY, created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    from_blog = await person(session, 6)
    session.add(event(from_blog, EventType.SUBSCRIBED, NOW - 1 * DAY, source="blog"))
    declared = await person(session, 7)
    session.add(SubscriberTag(subscriber_id=declared, tag="ladder:most_aware", added_at=NOW))
    nobody = await person(session, 8)
    session.add(event(nobody, EventType.LINK_CLICK, NOW, tags="problem"))  # not a list of tags
    await session.commit()

    outcome = await refresh_ladder(session, now=NOW, config=CONFIG)

    expected = {clicked: 1, climbing: 3, silent: 1, buyer: 4, from_blog: 1, declared: 4}
    assert await stages(session) == expected
    assert outcome.changed == 6
    assert outcome.stages == {
        "unaware": 2,
        "problem_aware": 3,
        "solution_aware": 0,
        "product_aware": 1,
        "most_aware": 2,
    }
    changes = await stage_events(session)
    assert changes[silent] == {"from": "unaware", "to": "problem_aware", "stepped_down": True}
    assert changes[climbing] == {"from": "unaware", "to": "product_aware", "stepped_down": False}
    assert set(changes) == set(expected)


async def test_silence_steps_down_and_expired_evidence_drops_to_unaware(
    session: AsyncSession,
) -> None:
    subscriber = await person(session, 1, seen=NOW - 2 * DAY)
    session.add(event(subscriber, EventType.BUTTON, NOW - 2 * DAY, data="ask_price"))
    await session.commit()
    assert (await refresh_ladder(session, now=NOW, config=CONFIG)).changed == 1
    assert (await refresh_ladder(session, now=NOW, config=CONFIG)).changed == 0  # no news
    later = NOW + 40 * DAY  # 42 days of silence: one step down
    assert (await refresh_ladder(session, now=later, config=CONFIG)).changed == 1
    assert await stages(session) == {subscriber: 2}
    await refresh_ladder(session, now=NOW + 100 * DAY, config=CONFIG)  # evidence expired
    assert await stages(session) == {subscriber: 0}
    steps = await session.execute(
        select(Event.payload)
        .where(Event.type == EventType.STAGE_CHANGED)
        .order_by(Event.occurred_at)
    )
    assert [(p["from"], p["to"]) for p in steps.scalars()] == [
        ("unaware", "product_aware"),
        ("product_aware", "solution_aware"),
        ("solution_aware", "unaware"),
    ]


async def test_the_ladder_counts_buyers_on_top(session: AsyncSession) -> None:
    first, second = await person(session, 1), await person(session, 2)
    session.add(LadderStage(subscriber_id=first, stage=4, evidence_at=NOW, changed_at=NOW))
    session.add(
        Customer(
            source="shop", external_id="1", attributes={}, subscriber_id=first, orders_count=2,
            created_at=NOW, updated_at=NOW,
        )
    )  # fmt: skip
    await session.commit()
    counts = await ladder(session)
    assert counts[0] == StageCount("unaware", 1, 0)
    assert counts[4] == StageCount("most_aware", 1, 1)
    assert second


def test_the_shipped_ladder_and_bad_sections() -> None:
    config = load_segments_config({})
    assert config.ladder.window_days == 90
    assert {stage for stage, _ in config.ladder.stage_evidence()} == {1, 2, 3, 4}
    with pytest.raises(ConfigError, match=r"ladder\.evidence\.most_aware\.0: .*exactly one"):
        load_segments_config(
            {"ladder": {"evidence": {"most_aware": [{"tag": "a", "button": "b"}]}}}
        )
    with pytest.raises(ConfigError, match=r"ladder\.evidence\.expert"):
        load_segments_config({"ladder": {"evidence": {"expert": []}}})
    with pytest.raises(ConfigError, match=r"activity: .*very_active > active > passive"):
        load_segments_config({"activity": {"active": 20}})
    with pytest.raises(ConfigError, match="unnamed cells"):
        load_segments_config({"rfm": {"segments": {"all": {"r": "1-5", "f": "2-5"}}}})
    custom = load_segments_config({"rfm": {"segments": {"all": {"r": "1-5", "f": "1-5"}}}})
    assert custom.rfm.segment_map().names == ("all",)
