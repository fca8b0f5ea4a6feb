"""The event log's writer: inbound touches are buffered and written in batches.

A busy bot gets hundreds of updates a second; one INSERT and one UPDATE per update would
make the database the bottleneck. `EventLog.record()` only appends to a buffer; a
background task writes the buffer as one multi-row INSERT (plus one bulk `last_seen_at`
update) when `max_batch` touches have come in since it last wrote, or `max_delay` seconds
have passed. A batch leaves the buffer only once it is committed, so a busy or unreachable
database delays touches, not loses them (up to MAX_BUFFERED). `close()` lets the batch
being written finish, then writes what is left. A crash loses at most the last `max_delay`
seconds of touches.

A touch from someone with no subscriber row yet (the `/start` that creates it may still be
committing) waits up to `MATCH_GRACE` for the row, then is skipped and counted. Waiting
touches are set aside by person and looked for again, once per person, when the writer next
writes; they do not count towards waking it, so a flood from people with no row (thousands
waiting) cannot keep it writing back-to-back, nor make each of its passes longer.

Listeners (`listen`) hear of each batch once it is committed, as `LoggedEvent`s: what
must follow events within seconds (journeys, segment membership) starts there rather than
from a periodic scan. They are awaited in the writer's task, one batch at a time, so a
listener should be quick (or hand the work on); one that fails is logged, and neither the
batch nor the other listeners suffer for it.

Some events are not touches and are written by the code that makes them happen, in its own
transaction (a tracked-link click, a quiz answer, a shared contact, a block, a
subscription). `hear_commits` makes the listeners hear those too: every `Event` row added
through a session of that sessionmaker is told, in a task of its own, once its transaction
commits (never when it rolls back).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from core.clock import Clock, utcnow
from core.db import is_contention
from core.erasure import erase_late_rows
from core.id_lists import among
from core.ids import BIGINT
from core.metrics import EVENTS_LOGGED
from core.models import Event, EventType, Subscriber
from core.wakeups import woken_within

logger = logging.getLogger(__name__)

MATCH_GRACE = timedelta(seconds=5)
MAX_BUFFERED = 100_000  # touches kept while the database is unreachable; then the oldest go
DROPS_PER_WARNING = 10_000  # one warning line per this many touches dropped
MAX_BACKOFF_DOUBLINGS = 5  # a failing writer tries again at most every 32 x max_delay
_subscribers = Subscriber.metadata.tables[Subscriber.__tablename__]
# A Core statement (not ORM), so a list of parameters runs as one executemany.
_RAISE_LAST_SEEN = (
    update(_subscribers)
    .where(
        _subscribers.c.id == bindparam("subscriber"),
        _subscribers.c.last_seen_at < bindparam("seen"),
    )
    .values(last_seen_at=bindparam("seen"))
)


@dataclass(frozen=True, slots=True)
class Touch:
    """One thing one Telegram user did, before it is tied to a subscriber row."""

    telegram_id: int
    type: EventType
    occurred_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """A touch as committed to the event log, tied to its subscriber's row."""

    subscriber_id: int
    type: EventType
    occurred_at: datetime
    payload: dict[str, Any]
    delivery_id: int | None


Listener = Callable[[Sequence[LoggedEvent]], Awaitable[None]]


class EventLog:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        max_batch: int = 500,
        max_delay: float = 0.25,
        clock: Clock = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._buffer: dict[int, Touch] = {}  # by arrival number, about oldest first
        # Touches whose person had no row when last looked up: by Telegram id, then arrival.
        self._waiting: dict[int, dict[int, Touch]] = {}
        self._received = 0  # touches recorded so far (the next one's arrival number)
        self._arrived = 0  # touches recorded since the writer last took the buffer
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closing = False
        self._listeners: list[Listener] = []
        self._telling: set[asyncio.Task[None]] = set()  # listeners told of others' commits
        self.written = 0  # touches written so far
        self.unmatched = 0  # touches from users with no subscriber row, skipped
        self.dropped = 0  # touches given up: refused by the database, or past MAX_BUFFERED

    def record(self, touch: Touch) -> None:
        """Buffer a touch; never waits on the database."""
        self._received += 1
        self._buffer[self._received] = touch
        self._arrived += 1
        if len(self._buffer) > MAX_BUFFERED:
            del self._buffer[next(iter(self._buffer))]
            self.dropped += 1
            if self.dropped % DROPS_PER_WARNING == 1:
                logger.warning(
                    "the event log has %d touches waiting for the database: the oldest are "
                    "dropped (%d so far)",
                    MAX_BUFFERED,
                    self.dropped,
                )
        if self._arrived >= self._max_batch:
            self._wake.set()

    def listen(self, listener: Listener) -> None:
        """Call `listener` with the events of every batch written from now on, once it is
        committed (see the module docstring)."""
        self._listeners.append(listener)

    def hear_commits(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Tell the listeners also of the `Event` rows other code commits through
        `sessionmaker`'s sessions (see the module docstring)."""
        session_class = sessionmaker.kw["sync_session_class"]
        sa_event.listen(session_class, "after_flush", _note_new_events)
        sa_event.listen(session_class, "after_commit", self._tell_committed)
        sa_event.listen(session_class, "after_rollback", _forget_new_events)

    def _tell_committed(self, session: Session) -> None:
        committed = session.info.pop(_NEW_EVENTS, None)
        if committed:
            task = asyncio.get_running_loop().create_task(self._tell(committed))
            self._telling.add(task)
            task.add_done_callback(self._telling.discard)

    def start(self) -> None:
        if self._writer is None:
            self._closing = False
            self._writer = asyncio.create_task(self._write_continuously(), name="event-log")

    async def close(self) -> None:
        """Stop the background writer once the batch it is writing is written, then write
        everything still buffered; listeners still being told of others' commits finish."""
        if self._writer is not None:
            self._closing = True
            self._wake.set()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.flush()
        await asyncio.gather(*self._telling, return_exceptions=True)

    def forget_subscriber(self, telegram_id: int) -> None:
        """After erasure: drop the person's touches still buffered, which would otherwise
        land after the erasure with what they carry (button data, message text)."""
        self._buffer = {
            key: touch for key, touch in self._buffer.items() if touch.telegram_id != telegram_id
        }
        self._waiting.pop(telegram_id, None)

    async def flush(self) -> None:
        """Write every buffered touch now, batch by batch (touches still waiting for their
        row stay). A batch that fails stays buffered, and the error is raised."""
        rows: dict[int, int | None] = {}
        for batch in self._pass():
            await self._write_batch(batch, rows)

    async def _write_continuously(self) -> None:
        """Write batches as they fill or age, until closed. While the database is busy or
        unreachable the touches stay buffered and the writer tries less often; a batch the
        database refuses as such is dropped, so one bad touch cannot stop the log."""
        failures = 0
        while not self._closing:
            pause = self._max_delay * 2 ** min(failures, MAX_BACKOFF_DOUBLINGS)
            await woken_within(self._wake, pause)
            self._wake.clear()
            self._arrived = 0
            failures += 1
            rows: dict[int, int | None] = {}
            for batch in self._pass():
                try:
                    await self._write_batch(batch, rows)
                except Exception as error:  # the writer must outlive any failure
                    if _passing(error):
                        logger.warning(
                            "the event log could not write (%s): %d touches kept for the next try",
                            type(error).__name__,
                            len(self._buffer),
                        )
                        break
                    logger.exception("the database refused %d touches: dropped", len(batch))
                    self._remove(batch)
                    self.dropped += len(batch)
            else:
                failures = 0

    def _pass(self) -> list[dict[int, Touch]]:
        """One pass of the writer: waiting touches past MATCH_GRACE are given up, and the
        buffer is cut into batches of at most `max_batch`, each by arrival number (one
        empty batch when only waiting touches are left, to look their people up)."""
        give_up_before = self._clock() - MATCH_GRACE
        for telegram_id, touches in list(self._waiting.items()):
            while touches:  # by arrival, so about as they occurred: the first recent one ends it
                oldest = next(iter(touches))
                if touches[oldest].occurred_at > give_up_before:
                    break
                del touches[oldest]
                self.unmatched += 1
            if not touches:
                del self._waiting[telegram_id]
        buffered, size = list(self._buffer.items()), self._max_batch
        batches = [dict(buffered[start : start + size]) for start in range(0, len(buffered), size)]
        return batches or ([{}] if self._waiting else [])

    async def _write_batch(self, batch: dict[int, Touch], rows: dict[int, int | None]) -> None:
        """Write one batch in a transaction of its own. The waiting touches of the people
        found to have a row by now join it, in `batch` and back in the buffer: written with
        it, kept with it while the database is busy, dropped with it if the database
        refuses it. Only once it is committed does the batch leave the buffer, and its
        touches whose people have no row start waiting (or are given up, if they are older
        than MATCH_GRACE already). `rows`: the subscriber row (or None) of each Telegram id
        looked up so far in this pass."""
        async with self._sessionmaker() as session:
            looked_up = (
                {touch.telegram_id for touch in batch.values()} | self._waiting.keys()
            ) - rows.keys()
            await _resolve(session, looked_up, rows)
            for each in looked_up & self._waiting.keys():
                if rows[each] is not None:
                    for key, touch in self._waiting.pop(each).items():
                        batch[key] = self._buffer[key] = touch
            written = await _write(session, list(batch.values()), rows)
            await session.commit()
        give_up_before = self._clock() - MATCH_GRACE
        for key, touch in batch.items():
            if self._buffer.pop(key, None) is None or rows[touch.telegram_id] is not None:
                continue  # forgotten meanwhile, or written
            if touch.occurred_at > give_up_before:
                self._waiting.setdefault(touch.telegram_id, {})[key] = touch
            else:
                self.unmatched += 1
        self.written += len(written)
        EVENTS_LOGGED.inc(len(written))
        if written:
            await self._tell(await self._without_erased(written))

    async def _without_erased(self, written: list[LoggedEvent]) -> list[LoggedEvent]:
        """`written`, less the events of people erased since they were looked up, whose
        payloads are emptied now (`core.erasure.erase_late_rows`). The batch is committed
        already: a failure here is logged, and the erasure's own second pass is left to
        empty them."""
        try:
            async with self._sessionmaker() as session:
                erased = set(await erase_late_rows(session, {e.subscriber_id for e in written}))
                await session.commit()
        except Exception as error:  # the writer must outlive any failure
            logger.warning(
                "could not check the people of %d events for an erasure meanwhile (%s)",
                len(written),
                type(error).__name__,
            )
            return written
        return [event for event in written if event.subscriber_id not in erased]

    async def _tell(self, written: list[LoggedEvent]) -> None:
        for listener in self._listeners:
            try:
                await listener(written)
            except Exception:  # a listener's failure must not stop the log
                logger.exception("an event log listener failed on %d events", len(written))

    def _remove(self, keys: Iterable[int]) -> None:
        for key in keys:
            self._buffer.pop(key, None)  # gone already if forgotten meanwhile


async def _write(
    session: AsyncSession, touches: list[Touch], rows: dict[int, int | None]
) -> list[LoggedEvent]:
    """Insert the events of the touches whose people have a row (in `rows`); those events."""
    events, last_seen = list[LoggedEvent](), dict[int, datetime]()
    for touch in touches:
        subscriber_id = rows[touch.telegram_id]
        if subscriber_id is None:
            continue
        events.append(
            LoggedEvent(
                subscriber_id, touch.type, touch.occurred_at, touch.payload, touch.delivery_id
            )
        )
        seen = last_seen.get(subscriber_id)
        last_seen[subscriber_id] = max(seen, touch.occurred_at) if seen else touch.occurred_at
    if events:
        await session.execute(insert(Event), [_row(event) for event in events])
        await session.execute(
            _RAISE_LAST_SEEN,
            [{"subscriber": key, "seen": seen} for key, seen in last_seen.items()],
        )
    return events


async def _resolve(
    session: AsyncSession, telegram_ids: set[int], rows: dict[int, int | None]
) -> None:
    """Add to `rows` the subscriber row of each of `telegram_ids` (None: no row, as for an
    id no BIGINT holds). Rows are read afresh for every pass of the writer: a row id kept
    from an earlier pass would outlive an erasure made by another process (then a returning
    person's touches would land on their erased row); within a pass, each person is looked
    up once, however many batches their touches fill (touches waiting for a row are in
    every pass until found or given up)."""
    listed = [each for each in telegram_ids if each in BIGINT]
    found: dict[int, int] = {}
    if listed:
        statement = select(Subscriber.telegram_id, Subscriber.id)
        result = await session.execute(statement.where(among(Subscriber.telegram_id, listed)))
        found = dict(result.all())
    rows.update(dict.fromkeys(telegram_ids))
    rows.update(found)


def _row(event: LoggedEvent) -> dict[str, Any]:
    return {
        "subscriber_id": event.subscriber_id,
        "type": event.type.value,
        "occurred_at": event.occurred_at,
        "delivery_id": event.delivery_id,
        "payload": event.payload,
    }


def _passing(error: Exception) -> bool:
    """Whether a failed write says the database is busy or unreachable for now (try the
    same batch again later), not that it refuses the batch."""
    unreachable = OperationalError | InterfaceError | OSError | TimeoutError
    return is_contention(error) or isinstance(error, unreachable)


_NEW_EVENTS = "segbot.new_events"  # Session.info: the Event rows flushed, not yet committed


def _note_new_events(session: Session, _flush: object) -> None:
    """After a flush (ids and defaults known, `session.new` still as before it)."""
    added = [
        LoggedEvent(
            subscriber_id=row.subscriber_id,
            type=EventType(row.type),
            occurred_at=row.occurred_at,
            payload=row.payload or {},
            delivery_id=row.delivery_id,
        )
        for row in session.new
        if isinstance(row, Event)
    ]
    if added:
        session.info.setdefault(_NEW_EVENTS, []).extend(added)


def _forget_new_events(session: Session) -> None:
    session.info.pop(_NEW_EVENTS, None)
