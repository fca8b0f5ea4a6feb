"""The event log: it forgets an erased person (what they did that is still buffered is
never written, and their cached row is dropped, so coming back maps to their new row), and
it loses no touch to a busy database or to closing."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events import MATCH_GRACE, EventLog, LoggedEvent, Touch
from core.models import Event, EventType
from core.subscribers import Profile, forget, subscribe
from tests.polling import until

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
ARYA, SANSA = 7_000_444, 7_000_555


async def test_touches_still_buffered_when_a_person_is_erased_are_never_written(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    log = EventLog(sessionmaker, clock=lambda: NOW)
    async with sessionmaker() as session:
        arya, _ = await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
        sansa, _ = await subscribe(session, profile=Profile(SANSA, SANSA), source=None, now=NOW)
        arya_id, sansa_id = arya.id, sansa.id
    log.record(Touch(ARYA, EventType.MESSAGE, NOW, {"kind": "text"}))
    await log.flush()  # her row id is cached now
    log.record(Touch(ARYA, EventType.MESSAGE, NOW, {"kind": "text", "text": "Needle"}))
    log.record(Touch(ARYA, EventType.BUTTON, NOW, {"data": "forget:yes"}))
    log.record(Touch(SANSA, EventType.MESSAGE, NOW, {"kind": "text", "text": "lemon cakes"}))

    async with sessionmaker() as session:
        await forget(session, telegram_id=ARYA, now=NOW)
        await session.commit()
    log.forget_subscriber(ARYA)
    log.record(Touch(ARYA, EventType.COMMAND, NOW, {"command": "/start"}))  # she comes back
    await log.flush()
    async with sessionmaker() as session:
        back, _ = await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
        back_id = back.id
    log.record(Touch(ARYA, EventType.COMMAND, NOW, {"command": "/profile"}))
    await log.close()

    async with sessionmaker() as session:
        rows = await session.execute(
            select(Event.subscriber_id, Event.type, Event.payload).where(
                Event.type.in_([EventType.MESSAGE, EventType.BUTTON, EventType.COMMAND])
            )
        )
        written = [tuple(row) for row in rows.all()]
    assert sorted(written, key=str) == sorted(
        [
            (arya_id, EventType.MESSAGE, {}),  # written before the erasure, emptied by it
            (sansa_id, EventType.MESSAGE, {"kind": "text", "text": "lemon cakes"}),
            (back_id, EventType.COMMAND, {"command": "/start"}),  # her new row, not the old
            (back_id, EventType.COMMAND, {"command": "/profile"}),
        ],
        key=str,
    )


class ErasingMeanwhile:
    """A sessionmaker whose first session lets `erase` run between its first statement (the
    writer looking people up) and its second (writing their touches): an erasure made by
    another process, committed in that gap."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        erase: Callable[[], Awaitable[None]],
    ) -> None:
        self._sessionmaker = sessionmaker
        self._erase: Callable[[], Awaitable[None]] | None = erase

    def __call__(self) -> AsyncSession:
        session = self._sessionmaker()
        erase, self._erase = self._erase, None
        if erase is not None:
            execute, statements = session.execute, 0

            async def erase_before_the_second(*args: Any, **kwargs: Any) -> Any:
                nonlocal statements
                statements += 1
                if statements == 2:
                    await erase()
                return await execute(*args, **kwargs)

            session.execute = erase_before_the_second  # type: ignore[method-assign]
        return session


async def test_a_touch_in_hand_as_its_person_is_erased_elsewhere_keeps_nothing_of_them(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        arya, _ = await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
        arya_id = arya.id

    async def erase() -> None:
        async with sessionmaker() as other_process:
            await forget(other_process, telegram_id=ARYA, now=NOW)
            await other_process.commit()

    told: list[int] = []

    async def listener(written: Sequence[LoggedEvent]) -> None:
        told.extend(event.subscriber_id for event in written)

    log = EventLog(cast(async_sessionmaker[AsyncSession], ErasingMeanwhile(sessionmaker, erase)))
    log.listen(listener)
    log.record(Touch(ARYA, EventType.MESSAGE, NOW, {"kind": "text", "text": "Needle"}))
    await log.flush()

    async with sessionmaker() as session:
        rows = await session.execute(select(Event.subscriber_id, Event.type, Event.payload))
        kept = [tuple(row) for row in rows.all()]
    assert (arya_id, EventType.MESSAGE, {}) in kept
    assert not [row for row in kept if row[2]], kept  # no payload of hers is left
    assert told == []  # nothing of hers went on to journeys


class FailingFirst:
    """A sessionmaker whose first `failures` sessions raise `error` at their first
    statement: a database that is busy, or that refuses what it is given."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], failures: int, error: Exception
    ) -> None:
        self._sessionmaker = sessionmaker
        self.failures = failures
        self._error = error

    def __call__(self) -> AsyncSession:
        session = self._sessionmaker()
        if self.failures > 0:
            self.failures -= 1
            error = self._error

            async def refuse(*_: object, **__: object) -> None:
                raise error

            session.execute = refuse  # type: ignore[method-assign,assignment]
        return session


async def written_texts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        payloads = await session.scalars(select(Event.payload).where(Event.type == "message"))
        return sorted(str(payload["text"]) for payload in payloads)


def messages(count: int, *, by: int = ARYA) -> list[Touch]:
    return [Touch(by, EventType.MESSAGE, NOW, {"text": f"m{n:03}"}) for n in range(count)]


async def test_touches_wait_out_a_busy_database_and_none_is_lost(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
    locked = OperationalError("INSERT INTO events", {}, Exception("database is locked"))
    flaky = FailingFirst(sessionmaker, failures=3, error=locked)
    log = EventLog(cast(async_sessionmaker[AsyncSession], flaky), max_batch=10, max_delay=0.01)
    log.start()
    for touch in messages(35):
        log.record(touch)
    await until(lambda: log.written == 35, what="every touch written once the database is free")
    await log.close()
    assert flaky.failures == 0
    assert await written_texts(sessionmaker) == [f"m{n:03}" for n in range(35)]
    assert log.dropped == 0


async def test_a_batch_the_database_refuses_is_dropped_and_logging_goes_on(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
    refused = IntegrityError("INSERT INTO events", {}, Exception("constraint failed"))
    flaky = FailingFirst(sessionmaker, failures=1, error=refused)
    log = EventLog(cast(async_sessionmaker[AsyncSession], flaky), max_batch=10, max_delay=0.01)
    log.start()
    for touch in messages(10):
        log.record(touch)
    await until(lambda: log.dropped == 10, what="the refused batch dropped")
    for touch in messages(5):
        log.record(touch)
    await until(lambda: log.written == 5, what="the next touches written")
    await log.close()
    assert len(await written_texts(sessionmaker)) == 5


async def test_closing_mid_write_loses_nothing(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
    log = EventLog(sessionmaker, max_batch=50, max_delay=0.001)
    log.start()
    for touch in messages(200):
        log.record(touch)
    await asyncio.sleep(0)  # the writer is on its way with the first batch
    await log.close()
    assert await written_texts(sessionmaker) == [f"m{n:03}" for n in range(200)]


class Counting:
    """A sessionmaker that counts the sessions it opens: one per batch the log writes."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self.opened = 0

    def __call__(self) -> AsyncSession:
        self.opened += 1
        return self._sessionmaker()


async def test_touches_waiting_for_their_row_do_not_keep_the_writer_busy(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A flood from people with no subscriber row (yet): their touches wait, and only new
    touches wake the writer, not every touch while the waiting ones fill a batch."""
    counting = Counting(sessionmaker)
    log = EventLog(
        cast(async_sessionmaker[AsyncSession], counting),
        max_batch=10,
        max_delay=60,
        clock=lambda: NOW,  # the touches' own time: they wait for the row, never given up
    )
    log.start()
    for touch in messages(10, by=SANSA):  # no row: they wait
        log.record(touch)
    await until(lambda: counting.opened == 1, what="the first batch looked at")
    for touch in messages(9, by=SANSA):
        log.record(touch)
        await asyncio.sleep(0.01)  # room for the writer to run, were it woken
    assert counting.opened == 1
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(SANSA, SANSA), source=None, now=NOW)
    await log.close()  # what is left is written: every touch found its row
    assert len(await written_texts(sessionmaker)) == 19


async def test_touches_wait_for_their_row_until_the_grace_ends_then_are_given_up(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Arya's row comes within MATCH_GRACE of her touches: they are written. Sansa's comes
    too late: hers are given up and counted, and only her later touches are written. Bran
    is erased while his touches wait: none is written."""
    now = [NOW]
    bran = 7_000_666
    log = EventLog(sessionmaker, max_batch=3, clock=lambda: now[0])
    for person in (ARYA, SANSA, bran):
        for touch in messages(4, by=person):
            log.record(touch)
    await log.flush()  # nobody has a row: everything waits
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
        await subscribe(session, profile=Profile(bran, bran), source=None, now=NOW)
    log.forget_subscriber(bran)
    now[0] = NOW + MATCH_GRACE / 2
    await log.flush()
    assert (log.written, log.unmatched) == (4, 0)

    now[0] = NOW + MATCH_GRACE
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(SANSA, SANSA), source=None, now=NOW)
    log.record(Touch(SANSA, EventType.MESSAGE, now[0], {"text": "late"}))
    await log.close()
    assert (log.written, log.unmatched) == (5, 4)
    assert await written_texts(sessionmaker) == ["late", "m000", "m001", "m002", "m003"]


class Refusing:
    """A sessionmaker whose sessions refuse (as a constraint would) to insert an event
    whose text is `text`."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], text: str) -> None:
        self._sessionmaker = sessionmaker
        self._text = text

    def __call__(self) -> AsyncSession:
        session = self._sessionmaker()
        execute = session.execute

        async def refusing(statement: Any, params: Any = None, **kwargs: Any) -> Any:
            if isinstance(params, list) and any(
                isinstance(row.get("payload"), dict) and row["payload"].get("text") == self._text
                for row in params
            ):
                raise IntegrityError("INSERT INTO events", {}, Exception("constraint failed"))
            return await execute(statement, params, **kwargs)

        session.execute = refusing  # type: ignore[method-assign]
        return session


async def test_a_refused_touch_that_waited_for_its_row_is_dropped_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Sansa's touch waits for her row; once it comes, the touch is written in a batch the
    database refuses: dropped with it, and not tried again with every batch after."""
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(ARYA, ARYA), source=None, now=NOW)
    refusing = Refusing(sessionmaker, "poison")
    log = EventLog(
        cast(async_sessionmaker[AsyncSession], refusing), max_delay=0.01, clock=lambda: NOW
    )
    log.start()
    log.record(Touch(SANSA, EventType.MESSAGE, NOW, {"text": "poison"}))
    await asyncio.sleep(0.1)  # passes go by: she has no row
    async with sessionmaker() as session:
        await subscribe(session, profile=Profile(SANSA, SANSA), source=None, now=NOW)
    await until(lambda: log.dropped == 1, what="the refused touch dropped")
    for touch in messages(3):
        log.record(touch)
    await until(lambda: log.written == 3, what="the next touches written")
    await log.close()
    assert log.dropped == 1
    assert await written_texts(sessionmaker) == ["m000", "m001", "m002"]
