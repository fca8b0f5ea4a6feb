"""Audience statistics, trends from the segment history and activity levels, and the best
send time per segment, on constructed histories."""

from datetime import timedelta

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.reports import audience_stats
from broadcasts.reports.send_time import best_send_times
from broadcasts.reports.trends import activity_transitions, segment_trends, subscribers_by_day
from core.models import Event, EventType, Subscriber, SubscriberStatus
from segments.models import ActivityLevel, SegmentMember, SegmentSize
from segments.saved import save_segment
from tests.broadcasts.audience import NOW, add_subscribers


async def _audience(session: AsyncSession) -> list[int]:
    """10 active (4 joined 3 days ago, from `blog`), 2 unsubscribed, 1 blocked."""
    active = await add_subscribers(session, 10, first_id=1)
    gone = await add_subscribers(session, 2, first_id=20, status=SubscriberStatus.UNSUBSCRIBED)
    blocked = await add_subscribers(session, 1, first_id=30, status=SubscriberStatus.BLOCKED)
    await session.execute(
        update(Subscriber)
        .where(Subscriber.id.in_(active[:4]))
        .values(subscribed_at=NOW - timedelta(days=3), source="blog")
    )
    await session.execute(
        update(Subscriber).where(Subscriber.id.not_in(active[:4]))
        .values(subscribed_at=NOW - timedelta(days=100))
    )  # fmt: skip
    leaving = [
        (gone[0], EventType.UNSUBSCRIBED, 2),
        (gone[1], EventType.UNSUBSCRIBED, 20),
        (blocked[0], EventType.BLOCKED, 2),
        (blocked[0], EventType.UNBLOCKED, 1),
    ]
    await session.execute(
        insert(Event),
        [
            {"subscriber_id": who, "type": kind.value, "payload": {},
             "occurred_at": NOW - timedelta(days=days)}
            for who, kind, days in leaving
        ],
    )  # fmt: skip
    levels = [(active[0], 4, 3), (active[1], 4, 3), (active[2], 1, 2), (active[3], 0, None)]
    await session.execute(
        insert(ActivityLevel),
        [
            {"subscriber_id": who, "level": level, "previous_level": before,
             "changed_at": NOW - timedelta(days=1)}
            for who, level, before in levels
        ],
    )  # fmt: skip
    await session.commit()
    return active


async def test_audience_stats(session: AsyncSession) -> None:
    await _audience(session)
    stats = await audience_stats(session, now=NOW)
    assert stats.total == 13
    assert stats.by_status == {"active": 10, "unsubscribed": 2, "blocked": 1, "deactivated": 0}
    week, month = stats.growth
    assert (week.days, week.joined, week.left, week.net) == (7, 4, 2, 2)
    assert (month.days, month.joined, month.left, month.net) == (30, 4, 3, 1)
    assert stats.activity == {
        "dormant": 1,
        "cold": 1,
        "passive": 0,
        "active": 0,
        "very_active": 2,
        "not computed": 6,
    }
    assert stats.sources == (("(direct)", 9), ("blog", 4))


async def test_subscribers_by_day_and_activity_transitions(session: AsyncSession) -> None:
    await _audience(session)
    daily = await subscribers_by_day(session, now=NOW, days=7)
    assert len(daily) == 8  # both ends included
    assert daily["joined"].sum() == 4
    assert daily["left"].sum() == 2
    three_days_ago = daily[daily["day"] == (NOW - timedelta(days=3)).date()]
    assert three_days_ago["joined"].tolist() == [4]
    moves = await activity_transitions(session, now=NOW, days=7)
    assert [(m.before, m.after, m.subscribers) for m in moves] == [
        ("active", "very_active", 2),
        ("new", "dormant", 1),
        ("passive", "cold", 1),
    ]


async def test_segment_trends_from_the_size_history(session: AsyncSession) -> None:
    await add_subscribers(session, 3)
    buyers = await save_segment(session, name="buyers", rule_text="buyer", now=NOW)
    await save_segment(session, name="fresh", rule_text="lang = es", now=NOW)
    history = [(40, 100, 0, 0), (20, 120, 25, 5), (5, 130, 15, 5), (1, 125, 5, 10)]
    await session.execute(
        insert(SegmentSize),
        [
            {"segment_id": buyers.id, "measured_at": NOW - timedelta(days=days), "size": size,
             "entered": entered, "left": left}
            for days, size, entered, left in history
        ],
    )  # fmt: skip
    await session.execute(update(type(buyers)).where(type(buyers).id == buyers.id).values(size=125))
    await session.commit()
    trends = await segment_trends(session, now=NOW, days=30)
    assert [(t.segment, t.size, t.size_before, t.entered, t.left, t.change) for t in trends] == [
        ("buyers", 125, 100, 45, 20, 25),
        ("fresh", None, None, 0, 0, None),
    ]


async def test_best_send_time_per_segment_in_local_time(session: AsyncSession) -> None:
    madrid = await add_subscribers(session, 3, first_id=1, timezone="Europe/Madrid")
    quiet = await add_subscribers(session, 2, first_id=10)
    evening = await save_segment(session, name="evening", rule_text="lang = en", now=NOW)
    await save_segment(session, name="silent", rule_text="lang = en", now=NOW)
    await session.execute(
        insert(SegmentMember),
        [{"segment_id": evening.id, "subscriber_id": who, "entered_at": NOW} for who in madrid],
    )
    # In the week before NOW Madrid is on CET: 18:00 UTC is 19:00 there. 24 clicks then,
    # 6 at 09:00 UTC (10:00 local), and one from someone outside the segment.
    events = [(madrid[n % 3], 18, n % 6) for n in range(24)]
    events += [(madrid[0], 9, n) for n in range(6)]
    events += [(quiet[0], 3, 0)]
    await session.execute(
        insert(Event),
        [
            {"subscriber_id": who, "type": EventType.LINK_CLICK.value, "payload": {},
             "occurred_at": (NOW - timedelta(days=days + 1)).replace(hour=hour)}
            for who, hour, days in events
        ],
    )  # fmt: skip
    await session.commit()
    times = await best_send_times(session, now=NOW)
    assert [(t.segment, t.hour, t.events, t.total_events) for t in times] == [
        ("evening", 19, 24, 30),
        ("silent", None, 0, 0),
    ]
