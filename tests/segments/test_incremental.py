"""Membership that follows changes: entering and leaving without a full refresh, only the
segments that read what changed, and the same events as a full refresh would log."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, EventType, Subscriber, SubscriberStatus, SubscriberTag
from segments.changes import changed, changes_of_events
from segments.incremental import MembershipUpdate, SegmentUpdate, follow_changes
from segments.membership import refresh_memberships
from segments.models import SegmentMember, SegmentSize
from segments.rules.dependencies import Fact, FactKind
from segments.saved import get_segment, save_segment

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
SEGMENTS = {
    "es_clickers": "lang = es and clicked within 7d",
    "spanish": "lang = es",
    "active_es": "status = active and in segment spanish",
    "vip": "tag:vip",
}


async def person(session: AsyncSession, telegram_id: int, language: str = "es") -> int:
    subscriber = Subscriber(
        telegram_id=telegram_id, chat_id=telegram_id, language_code=language,
        subscribed_at=NOW, last_seen_at=NOW, attributes={},
    )  # fmt: skip
    session.add(subscriber)
    await session.commit()
    return subscriber.id


async def log(session: AsyncSession, subscriber_id: int, kind: EventType) -> Event:
    event = Event(subscriber_id=subscriber_id, type=kind, occurred_at=LATER, payload={})
    session.add(event)
    await session.commit()
    return event


async def saved_and_refreshed(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    for name, rule in SEGMENTS.items():
        await save_segment(session, name=name, rule_text=rule, now=NOW)
    await refresh_memberships(sessionmaker, now=NOW)  # the baseline


async def crossings(session: AsyncSession, kind: EventType) -> list[tuple[int, str]]:
    rows = await session.execute(
        select(Event.subscriber_id, Event.payload).where(Event.type == kind).order_by(Event.id)
    )
    return [(subscriber, payload["segment"]) for subscriber, payload in rows.all()]


async def members(session: AsyncSession, name: str) -> list[int]:
    segment = await get_segment(session, name=name)
    rows = await session.scalars(
        select(SegmentMember.subscriber_id)
        .where(SegmentMember.segment_id == segment.id)
        .order_by(SegmentMember.subscriber_id)
    )
    return list(rows.all())


async def test_a_click_enters_the_segment_that_reads_clicks_and_only_that_one(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann = await person(session, 1)
    await saved_and_refreshed(sessionmaker, session)
    click = await log(session, ann, EventType.LINK_CLICK)

    outcome = await follow_changes(sessionmaker, changes=changes_of_events([click]), now=LATER)

    # Only the segment whose rule reads clicks was evaluated; `active_es` reads the
    # profile's status and language, which a click does not change.
    assert outcome == MembershipUpdate((SegmentUpdate("es_clickers", 1, 1, 0),))
    segment = await get_segment(session, name="es_clickers")
    entered = await session.scalar(select(Event).where(Event.type == EventType.SEGMENT_ENTERED))
    assert entered is not None
    assert (entered.subscriber_id, entered.occurred_at) == (ann, LATER)
    assert entered.payload == {"segment": "es_clickers", "segment_id": segment.id}
    await session.refresh(segment)
    assert (segment.size, segment.refreshed_at) == (1, NOW)  # the size follows; not a refresh
    assert await members(session, "es_clickers") == [ann]

    # Told again, and then refreshed in full: nothing more to log.
    again = await follow_changes(sessionmaker, changes=changes_of_events([click]), now=LATER)
    assert again.updated == (SegmentUpdate("es_clickers", 1, 0, 0),)
    refreshed = {r.segment: r for r in await refresh_memberships(sessionmaker, now=LATER)}
    assert (refreshed["es_clickers"].entered, refreshed["es_clickers"].left) == (0, 0)
    assert await crossings(session, EventType.SEGMENT_ENTERED) == [(ann, "es_clickers")]


async def test_unsubscribing_leaves_a_segment_on_status_through_the_segment_it_names(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann, bo = await person(session, 1), await person(session, 2)
    await saved_and_refreshed(sessionmaker, session)
    assert await members(session, "active_es") == [ann, bo]
    await session.execute(
        update(Subscriber).where(Subscriber.id == bo).values(status=SubscriberStatus.UNSUBSCRIBED)
    )
    stop = await log(session, bo, EventType.UNSUBSCRIBED)

    outcome = await follow_changes(sessionmaker, changes=changes_of_events([stop]), now=LATER)

    assert outcome.checked == ["active_es"]
    assert outcome.updated[0] == SegmentUpdate("active_es", 1, 0, 1)
    assert await crossings(session, EventType.SEGMENT_LEFT) == [(bo, "active_es")]
    assert await members(session, "active_es") == [ann]  # ann was not evaluated, and stays
    assert await crossings(session, EventType.SEGMENT_ENTERED) == []


async def test_a_segment_never_refreshed_waits_for_its_baseline(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann = await person(session, 1)
    await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
    outcome = await follow_changes(
        sessionmaker, changes=changed([ann], [Fact(FactKind.PROFILE)]), now=LATER
    )
    assert outcome == MembershipUpdate((), ("spanish",))
    assert await session.scalar(select(func.count()).select_from(SegmentMember)) == 0
    assert await crossings(session, EventType.SEGMENT_ENTERED) == []


async def test_changes_no_rule_reads_touch_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann = await person(session, 1)
    await saved_and_refreshed(sessionmaker, session)
    reaction = await log(session, ann, EventType.REACTION)
    outcome = await follow_changes(sessionmaker, changes=changes_of_events([reaction]), now=LATER)
    assert outcome == MembershipUpdate()
    assert await follow_changes(sessionmaker, changes={}, now=LATER) == MembershipUpdate()
    sizes = await session.scalar(select(func.count()).select_from(SegmentSize))
    assert sizes == len(SEGMENTS)  # the baseline's rows only


async def test_a_tag_enters_and_leaves_for_the_subscribers_named_only(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann, bo = await person(session, 1), await person(session, 2)
    await saved_and_refreshed(sessionmaker, session)
    session.add_all(
        SubscriberTag(subscriber_id=who, tag="vip", added_at=LATER) for who in (ann, bo)
    )
    await session.commit()
    tag = [Fact(FactKind.TAG, "vip")]

    outcome = await follow_changes(sessionmaker, changes=changed([ann], tag), now=LATER)
    assert outcome.updated == (SegmentUpdate("vip", 1, 1, 0),)
    assert await members(session, "vip") == [ann]  # bo's change was not reported (yet)

    await session.execute(delete(SubscriberTag).where(SubscriberTag.subscriber_id == ann))
    await session.commit()
    outcome = await follow_changes(sessionmaker, changes=changed([ann, bo], tag), now=LATER)
    assert outcome.updated == (SegmentUpdate("vip", 2, 1, 1),)
    assert await crossings(session, EventType.SEGMENT_ENTERED) == [(ann, "vip"), (bo, "vip")]
    assert await crossings(session, EventType.SEGMENT_LEFT) == [(ann, "vip")]
    vip = await get_segment(session, name="vip")
    await session.refresh(vip)
    assert vip.size == 1


async def test_event_counts_are_counted_for_each_subscriber_told_about(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    people = [await person(session, number) for number in (1, 2, 3)]
    await save_segment(session, name="keen", rule_text="clicked >= 2 within 7d", now=NOW)
    await refresh_memberships(sessionmaker, now=NOW)
    clicks = [await log(session, who, EventType.LINK_CLICK) for who in people for _ in (1, 2)]
    await log(session, people[2], EventType.BUTTON)  # not a click

    outcome = await follow_changes(sessionmaker, changes=changes_of_events(clicks[:4]), now=LATER)
    assert outcome.updated == (SegmentUpdate("keen", 2, 2, 0),)
    assert await members(session, "keen") == people[:2]  # the third was not told about
