from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Event, EventType, Subscriber
from segments.activity import Transition, refresh_activity, transitions
from segments.config import ActivityConfig
from segments.models import ActivityLevel

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CONFIG = ActivityConfig(window_days=30, dormant_after_days=90, very_active=5, active=3, passive=1)


async def person(session: AsyncSession, number: int, engaged_days_ago: list[int]) -> int:
    subscriber = Subscriber(
        telegram_id=number, chat_id=number, subscribed_at=NOW - 200 * DAY, last_seen_at=NOW,
        attributes={},
    )  # fmt: skip
    session.add(subscriber)
    await session.flush()
    session.add_all(
        Event(subscriber_id=subscriber.id, type=EventType.READ, occurred_at=NOW - days * DAY)
        for days in engaged_days_ago
    )
    # Not engagement: membership changes and commands do not make anyone active.
    session.add(Event(subscriber_id=subscriber.id, type=EventType.COMMAND, occurred_at=NOW))
    return subscriber.id


async def levels(session: AsyncSession) -> dict[int, int]:
    rows = await session.execute(select(ActivityLevel.subscriber_id, ActivityLevel.level))
    return {subscriber_id: int(level) for subscriber_id, level in rows.all()}


async def test_levels_follow_the_thresholds(session: AsyncSession) -> None:
    very = await person(session, 1, [1, 2, 3, 4, 29])
    active = await person(session, 2, [1, 2, 3, 31])
    passive = await person(session, 3, [29])
    cold = await person(session, 4, [31, 89])
    dormant = await person(session, 5, [91, 300])
    await session.commit()
    outcome = await refresh_activity(session, now=NOW, config=CONFIG)
    assert await levels(session) == {very: 4, active: 3, passive: 2, cold: 1, dormant: 0}
    assert outcome.changed == 5
    assert outcome.levels == {
        "dormant": 1,
        "cold": 1,
        "passive": 1,
        "active": 1,
        "very_active": 1,
    }


async def test_only_changes_are_written_and_transitions_counted(session: AsyncSession) -> None:
    waking = await person(session, 1, [40])
    steady = await person(session, 2, [40])
    await session.commit()
    await refresh_activity(session, now=NOW, config=CONFIG)
    assert (await refresh_activity(session, now=NOW, config=CONFIG)).changed == 0
    later = NOW + DAY
    session.add_all(
        Event(subscriber_id=waking, type=EventType.LINK_CLICK, occurred_at=later - i * DAY / 10)
        for i in range(6)
    )
    await session.commit()
    outcome = await refresh_activity(session, now=later, config=CONFIG)
    assert outcome.changed == 1
    assert await levels(session) == {waking: 4, steady: 1}
    assert await transitions(session, since=later) == [Transition("cold", "very_active", 1)]
    assert await transitions(session, since=NOW) == [
        Transition(None, "cold", 1),
        Transition("cold", "very_active", 1),
    ]
