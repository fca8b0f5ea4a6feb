"""Listeners of the event log hear each batch once it is committed, with the subscriber's
row id; one that fails neither loses the batch nor silences the others."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import EventLog, LoggedEvent, Touch
from core.models import Event, EventType
from core.subscribers import Profile, subscribe

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
USER = 4_200_001


async def test_listeners_hear_each_committed_batch_and_a_failing_one_harms_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        subscriber, _ = await subscribe(session, profile=Profile(USER, USER), source=None, now=NOW)
    heard: list[list[LoggedEvent]] = []

    async def failing(events: Sequence[LoggedEvent]) -> None:
        raise RuntimeError("a listener's own trouble")

    async def counting(events: Sequence[LoggedEvent]) -> None:
        async with sessionmaker() as session:  # what it hears is committed already
            written = await session.scalar(select(func.count()).where(Event.type == "button"))
        assert written == len(events)
        heard.append(list(events))

    log = EventLog(sessionmaker, clock=lambda: NOW)
    log.listen(failing)
    log.listen(counting)
    log.record(Touch(USER, EventType.BUTTON, NOW, {"data": "yes"}, delivery_id=7))
    log.record(Touch(USER, EventType.BUTTON, NOW, {"data": "no"}))
    await log.flush()

    assert heard == [
        [
            LoggedEvent(subscriber.id, EventType.BUTTON, NOW, {"data": "yes"}, 7),
            LoggedEvent(subscriber.id, EventType.BUTTON, NOW, {"data": "no"}, None),
        ]
    ]
    assert log.written == 2


async def test_events_other_code_commits_are_heard_once_committed_and_never_rolled_back(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        subscriber, _ = await subscribe(session, profile=Profile(USER, USER), source=None, now=NOW)
    heard: list[LoggedEvent] = []
    told = asyncio.Event()

    async def listening(events: Sequence[LoggedEvent]) -> None:
        heard.extend(events)
        told.set()

    log = EventLog(sessionmaker, clock=lambda: NOW)
    log.listen(listening)
    log.hear_commits(sessionmaker)
    click = {"subscriber_id": subscriber.id, "occurred_at": NOW, "payload": {"tags": ["x"]}}
    async with sessionmaker() as session:  # rolled back: never heard
        session.add(Event(type=EventType.LINK_CLICK, **click))
        await session.flush()
        await session.rollback()
    async with sessionmaker() as session:
        session.add(Event(type=EventType.LINK_CLICK, delivery_id=3, **click))
        await session.flush()
        assert heard == []  # flushed, not committed yet
        await session.commit()
    async with asyncio.timeout(10):
        await told.wait()
    await log.close()

    assert heard == [LoggedEvent(subscriber.id, EventType.LINK_CLICK, NOW, {"tags": ["x"]}, 3)]
