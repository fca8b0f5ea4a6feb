"""The follower: the event log's committed batches move people into segments, with no
full refresh; a failed update is tried again; closing applies what is waiting."""

from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import EventLog, Touch
from core.models import Event, EventType, Subscriber
from segments import follower as follower_module
from segments.changes import Changes, changed
from segments.follower import MembershipFollower
from segments.incremental import MembershipUpdate, follow_changes
from segments.membership import refresh_memberships
from segments.rules.dependencies import Fact, FactKind
from segments.saved import save_segment
from tests.polling import until

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)


def clock() -> datetime:
    return LATER


async def pressers(sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession) -> int:
    """A subscriber (Telegram user 7), and the refreshed segment of those who pressed a
    button today, which they are not in yet."""
    ann = Subscriber(telegram_id=7, chat_id=7, subscribed_at=NOW, last_seen_at=NOW, attributes={})
    session.add(ann)
    await session.commit()
    await save_segment(session, name="pressers", rule_text="pressed within 1d", now=NOW)
    await refresh_memberships(sessionmaker, now=NOW)
    return ann.id


async def entered(sessionmaker: async_sessionmaker[AsyncSession]) -> list[int]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Event.subscriber_id).where(Event.type == EventType.SEGMENT_ENTERED)
        )
        return list(rows.all())


async def test_a_button_press_logged_by_the_event_log_enters_the_segment(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    ann = await pressers(sessionmaker, session)
    log = EventLog(sessionmaker, clock=clock)
    follower = MembershipFollower(sessionmaker, clock=clock)
    log.listen(follower.hear)
    follower.start()
    try:
        log.record(Touch(7, EventType.BUTTON, LATER, {"data": "ask_price"}))
        await log.flush()

        async def ann_entered() -> bool:
            return await entered(sessionmaker) == [ann]

        await until(ann_entered, what="the press to move ann into the segment")
    finally:
        await follower.close()
    assert follower.dropped == 0


async def test_a_failed_update_is_tried_again_and_closing_applies_what_waits(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ann = await pressers(sessionmaker, session)
    session.add(Event(subscriber_id=ann, type=EventType.BUTTON, occurred_at=LATER, payload={}))
    await session.commit()
    tries: list[Changes] = []

    async def failing_once(
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        changes: Changes,
        now: datetime,
        rfm_segments: Collection[str],
    ) -> MembershipUpdate:
        tries.append(changes)
        if len(tries) == 1:
            raise OSError("the database went away")
        return await follow_changes(
            sessionmaker, changes=changes, now=now, rfm_segments=rfm_segments
        )

    monkeypatch.setattr(follower_module, "follow_changes", failing_once)
    follower = MembershipFollower(sessionmaker, clock=clock)
    follower.start()
    follower.add(changed([ann], [Fact(FactKind.EVENT, EventType.BUTTON)]))
    try:

        async def tried_twice() -> bool:
            return len(tries) >= 2

        await until(tried_twice, what="the failed update to be tried again")
    finally:
        await follower.close()
    assert await entered(sessionmaker) == [ann]

    # Closed, nothing runs in the background: close() itself applies what was added.
    follower.add(changed([ann], [Fact(FactKind.EVENT, EventType.BUTTON)]))
    await follower.close()
    assert len(tries) == 3
