"""Following changes beside a full refresh of the same segment: whichever gets the segment
first, a crossing is logged once, and an exit is never lost."""

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, EventType, Subscriber
from segments import member_diff
from segments.changes import changes_of_events
from segments.incremental import follow_changes
from segments.membership import refresh_memberships
from segments.models import SegmentMember
from segments.saved import get_segment, save_segment
from tests.polling import until

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=1)
ROUNDS = 3


async def waiting_for_locks(session: AsyncSession) -> int:
    """PostgreSQL: how many connections to this database wait for a lock."""
    return int(
        await session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        or 0
    )


async def side_by_side(
    sessionmaker: async_sessionmaker[AsyncSession],
    segment: str,
    *work: Callable[[], Coroutine[Any, Any, Any]],
) -> None:
    """Run `work` while a third writer holds the segment, so each waits for it, then let
    them go: they meet at the segment's lock, in an order nobody chose."""
    async with sessionmaker() as holder:
        await member_diff.prepare(holder)  # SQLite: takes the write lock
        held = await get_segment(holder, name=segment)
        await member_diff.lock_segment(holder, held.id)
        tasks = [asyncio.create_task(each()) for each in work]
        if holder.get_bind().dialect.name == "postgresql":
            async with sessionmaker() as watcher:

                async def all_waiting() -> bool:
                    return await waiting_for_locks(watcher) >= len(work)

                await until(all_waiting, what="both to wait for the segment's lock")
        else:  # SQLite's waiting writers cannot be seen: let them reach the lock
            await asyncio.sleep(0.3)
        await holder.commit()
    await asyncio.gather(*tasks)


async def crossings(session: AsyncSession, kind: EventType) -> list[int]:
    rows = await session.scalars(
        select(Event.subscriber_id).where(Event.type == kind).order_by(Event.subscriber_id)
    )
    return list(rows.all())


@pytest.mark.parametrize("round_", range(ROUNDS))
async def test_an_entry_and_an_exit_are_logged_once_beside_a_full_refresh(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, round_: int
) -> None:
    ann = Subscriber(telegram_id=1, chat_id=1, subscribed_at=NOW, last_seen_at=NOW, attributes={})
    session.add(ann)
    await session.commit()
    await save_segment(session, name="clickers", rule_text="clicked within 7d", now=NOW)
    await refresh_memberships(sessionmaker, now=NOW)  # the baseline: nobody
    click = Event(subscriber_id=ann.id, type=EventType.LINK_CLICK, occurred_at=LATER, payload={})
    session.add(click)
    await session.commit()

    def refresh() -> Coroutine[Any, Any, Any]:
        return refresh_memberships(sessionmaker, now=LATER, names=["clickers"])

    def follow() -> Coroutine[Any, Any, Any]:
        return follow_changes(sessionmaker, changes=changes_of_events([click]), now=LATER)

    await side_by_side(
        sessionmaker, "clickers", *((refresh, follow) if round_ % 2 else (follow, refresh))
    )
    assert await crossings(session, EventType.SEGMENT_ENTERED) == [ann.id]
    members = select(func.count()).select_from(SegmentMember)
    assert await session.scalar(members) == 1

    await session.execute(delete(Event).where(Event.type == EventType.LINK_CLICK))
    await session.commit()
    await side_by_side(sessionmaker, "clickers", refresh, follow)
    assert await crossings(session, EventType.SEGMENT_LEFT) == [ann.id]
    assert await session.scalar(members) == 0
    segment = await get_segment(session, name="clickers")
    await session.refresh(segment)
    assert segment.size == 0
