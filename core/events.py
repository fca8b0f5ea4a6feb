"""The event log's writer: inbound touches are buffered and written in batches.

A busy bot gets hundreds of updates a second; one INSERT and one UPDATE per update would
make the database the bottleneck. `EventLog.record()` only appends to a buffer; a
background task writes the buffer as one multi-row INSERT (plus one bulk `last_seen_at`
update) when it holds `max_batch` touches or `max_delay` seconds have passed. `close()`
writes what is left. A crash loses at most the last `max_delay` seconds of touches.

A touch from someone with no subscriber row yet (the `/start` that creates it may still be
committing) waits up to `MATCH_GRACE` for the row, then is skipped and counted.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.metrics import EVENTS_LOGGED
from core.models import Event, EventType, Subscriber

logger = logging.getLogger(__name__)

MATCH_GRACE = timedelta(seconds=5)
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
        self._buffer: list[Touch] = []
        self._subscriber_ids: dict[int, int] = {}  # telegram id -> subscriber id
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.written = 0  # touches written so far
        self.unmatched = 0  # touches from users with no subscriber row, skipped

    def record(self, touch: Touch) -> None:
        """Buffer a touch; never waits on the database."""
        self._buffer.append(touch)
        if len(self._buffer) >= self._max_batch:
            self._wake.set()

    def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_continuously(), name="event-log")

    async def close(self) -> None:
        """Stop the background writer and write everything still buffered."""
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
        await self.flush()

    def forget_subscriber(self, telegram_id: int) -> None:
        """Drop a cached id (after erasure, so a later /start maps afresh)."""
        self._subscriber_ids.pop(telegram_id, None)

    async def flush(self) -> None:
        """Write every buffered touch now (touches still waiting for their row stay)."""
        pending, self._buffer = self._buffer, []
        for start in range(0, len(pending), self._max_batch):
            async with self._sessionmaker() as session:
                await self._write(session, pending[start : start + self._max_batch])
                await session.commit()

    async def _write_continuously(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._max_delay)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # a failing batch must not stop logging for good
                logger.exception("could not write %d touches to the event log", len(self._buffer))
                self._buffer.clear()

    async def _write(self, session: AsyncSession, batch: list[Touch]) -> None:
        await self._resolve(session, {touch.telegram_id for touch in batch})
        events, last_seen = [], dict[int, datetime]()
        give_up_before = self._clock() - MATCH_GRACE
        for touch in batch:
            subscriber_id = self._subscriber_ids.get(touch.telegram_id)
            if subscriber_id is None:
                if touch.occurred_at > give_up_before:
                    self._buffer.append(touch)
                else:
                    self.unmatched += 1
                continue
            events.append(
                {
                    "subscriber_id": subscriber_id,
                    "type": touch.type.value,
                    "occurred_at": touch.occurred_at,
                    "delivery_id": touch.delivery_id,
                    "payload": touch.payload,
                }
            )
            seen = last_seen.get(subscriber_id)
            last_seen[subscriber_id] = max(seen, touch.occurred_at) if seen else touch.occurred_at
        if events:
            await session.execute(insert(Event), events)
            await session.execute(
                _RAISE_LAST_SEEN,
                [{"subscriber": key, "seen": seen} for key, seen in last_seen.items()],
            )
        self.written += len(events)
        EVENTS_LOGGED.inc(len(events))

    async def _resolve(self, session: AsyncSession, telegram_ids: set[int]) -> None:
        unknown = telegram_ids - self._subscriber_ids.keys()
        if unknown:
            rows = await session.execute(
                select(Subscriber.telegram_id, Subscriber.id).where(
                    Subscriber.telegram_id.in_(unknown)
                )
            )
            self._subscriber_ids.update(dict(rows.all()))
