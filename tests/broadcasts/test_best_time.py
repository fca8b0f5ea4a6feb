"""Engagement by local hour and the best hour: each subscriber's own clock counts."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.best_time import COLUMNS, best_hour, engagement_by_hour, pick_best_hour
from core.models import Event, EventType, Subscriber
from segments.models import Segment, SegmentMember
from tests.broadcasts.audience import NOW, add_subscribers

SINCE = NOW - timedelta(days=30)


async def log(session: AsyncSession, subscriber_id: int, kind: EventType, *at: datetime) -> None:
    rows: list[dict[str, object]] = [
        {"subscriber_id": subscriber_id, "type": kind.value, "occurred_at": moment, "payload": {}}
        for moment in at
    ]
    await session.execute(insert(Event), rows)
    await session.commit()


async def test_events_land_in_each_subscribers_local_hour_and_weekday(
    session: AsyncSession,
) -> None:
    [tokyo] = await add_subscribers(session, 1, timezone="Asia/Tokyo")
    [unknown] = await add_subscribers(session, 1, first_id=2, timezone="Not/AZone")
    [plain] = await add_subscribers(session, 1, first_id=3)
    sunday_evening = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # Monday 08:30 in Tokyo
    await log(session, tokyo, EventType.LINK_CLICK, sunday_evening, sunday_evening)
    await log(session, unknown, EventType.READ, sunday_evening)  # Madrid (the default): Mon 00:30
    await log(session, plain, EventType.REACTION, sunday_evening)
    await log(session, plain, EventType.SUBSCRIBED, sunday_evening)  # not engagement
    await log(session, plain, EventType.BUTTON, NOW - timedelta(days=31))  # too old

    table = await engagement_by_hour(
        session, since=SINCE, until=NOW, default_timezone="Europe/Madrid"
    )

    assert tuple(table.columns) == COLUMNS
    assert len(table) == 7 * 24
    busy = table[table["events"] > 0].to_dict("records")
    assert busy == [
        {"weekday": 0, "hour": 0, "events": 2, "subscribers": 2},  # unknown and plain: Madrid
        {"weekday": 0, "hour": 8, "events": 2, "subscribers": 1},
    ]


async def test_a_segment_or_a_query_narrows_whose_events_count(session: AsyncSession) -> None:
    first, second = await add_subscribers(session, 2)
    at_nine, at_five = NOW - timedelta(hours=3), NOW + timedelta(hours=5) - timedelta(days=1)
    await log(session, first, EventType.MESSAGE, at_nine)
    await log(session, second, EventType.BUTTON, at_five)
    segment = Segment(name="vip", rule={}, rule_text="", version=1, created_at=NOW, updated_at=NOW)
    session.add(segment)
    await session.flush()
    session.add(SegmentMember(segment_id=segment.id, subscriber_id=second, entered_at=NOW))
    await session.commit()

    members = await engagement_by_hour(session, since=SINCE, until=NOW, segment_id=segment.id)
    queried = await engagement_by_hour(
        session,
        since=SINCE,
        until=NOW,
        subscriber_ids=select(Subscriber.id).where(Subscriber.id == first),
    )

    assert members[members["events"] > 0][["hour", "events"]].values.tolist() == [[17, 1]]
    assert queried[queried["events"] > 0][["hour", "events"]].values.tolist() == [[9, 1]]
    with pytest.raises(ValueError, match="not both"):
        await engagement_by_hour(
            session,
            since=SINCE,
            until=NOW,
            segment_id=segment.id,
            subscriber_ids=select(Subscriber.id),
        )


async def test_the_best_hour_has_most_engagement_else_the_fallback(
    session: AsyncSession,
) -> None:
    ids = await add_subscribers(session, 3, timezone="America/New_York")
    evening = datetime(2026, 10, 20, 23, 0, tzinfo=UTC)  # 19:00 in New York (EDT)
    morning = datetime(2026, 10, 21, 12, 0, tzinfo=UTC)  # 08:00
    for subscriber in ids:
        await log(session, subscriber, EventType.LINK_CLICK, evening)
    await log(session, ids[0], EventType.READ, morning, morning)

    best = await best_hour(session, since=SINCE, until=NOW, fallback_hour=10, min_events=5)
    thin = await best_hour(session, since=SINCE, until=NOW, fallback_hour=10, min_events=6)

    assert (best.hour, best.events, best.total_events, best.fallback) == (19, 3, 5, False)
    assert (thin.hour, thin.events, thin.fallback) == (10, 0, True)


async def test_ties_go_to_the_earliest_hour_and_bad_input_is_refused(
    session: AsyncSession,
) -> None:
    table = await engagement_by_hour(session, since=SINCE, until=NOW)
    assert pick_best_hour(table, fallback_hour=18, min_events=0).hour == 18  # no data at all
    table.loc[table["hour"].isin([7, 15]), "events"] = 1
    assert pick_best_hour(table, fallback_hour=18, min_events=1).hour == 7
    with pytest.raises(ValueError, match="0-23"):
        pick_best_hour(table, fallback_hour=24, min_events=1)
    with pytest.raises(ValueError, match="empty period"):
        await engagement_by_hour(session, since=NOW, until=NOW)
