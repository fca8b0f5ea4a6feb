"""The trigger feed reads every row once, in id order: a row committed after a higher id
was read (PostgreSQL hands ids out before commits) is read when it commits, and the
saved position passes it only then; a new feed starts at the table's end."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Event, EventType
from journeys.feed import Feed
from tests.broadcasts.audience import add_subscribers

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def events(where: ColumnElement[bool]) -> Any:
    return select(Event.id).where(where)


def event(subscriber_id: int) -> Event:
    return Event(subscriber_id=subscriber_id, type=EventType.MESSAGE, occurred_at=NOW, payload={})


async def logged(sessionmaker: async_sessionmaker[AsyncSession], subscriber_id: int) -> int:
    async with sessionmaker() as session:
        row = event(subscriber_id)
        session.add(row)
        await session.commit()
        return row.id


def ids(rows: Sequence[tuple[Any, ...]]) -> list[int]:
    return [row[0] for row in rows]


async def test_a_new_feed_starts_at_the_end_and_reads_each_new_row_once(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    (who,) = await add_subscribers(session, 1)
    await logged(sessionmaker, who)  # history: never replayed
    feed = Feed("test", Event.id)
    assert await feed.read(sessionmaker, events, limit=10) == []
    first, second = await logged(sessionmaker, who), await logged(sessionmaker, who)
    assert ids(await feed.read(sessionmaker, events, limit=1)) == [first]
    assert ids(await feed.read(sessionmaker, events, limit=10)) == [second]
    assert await feed.read(sessionmaker, events, limit=10) == []

    async with sessionmaker() as saving:  # a restart goes on from the saved position
        await feed.save(saving, NOW)
        await saving.commit()
    again = Feed("test", Event.id)
    third = await logged(sessionmaker, who)
    assert ids(await again.read(sessionmaker, events, limit=10)) == [third]


async def test_a_row_committed_after_a_higher_one_is_read_when_it_commits(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite writes one transaction at a time: ids commit in order")
    (who,) = await add_subscribers(session, 1)
    feed = Feed("test", Event.id)
    await feed.read(sessionmaker, events, limit=10)
    async with sessionmaker() as slow:
        late = event(who)
        slow.add(late)
        await slow.flush()  # its id is taken, its commit is yet to come
        early = await logged(sessionmaker, who)
        assert ids(await feed.read(sessionmaker, events, limit=10)) == [early]
        async with sessionmaker() as saving:
            await feed.save(saving, NOW)
            await saving.commit()
        assert feed.watermark is not None
        assert feed.watermark < late.id  # the saved position waits for it
        await slow.commit()
    assert ids(await feed.read(sessionmaker, events, limit=10)) == [late.id]
    assert await feed.read(sessionmaker, events, limit=10) == []
    assert feed.watermark == early
