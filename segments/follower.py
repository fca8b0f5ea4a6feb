"""Membership following the event log as it commits, in a task of its own.

`MembershipFollower.hear` is an event-log listener (`core.events.EventLog.listen`): it
turns a committed batch into changes (`segments.changes`) and returns at once, so the
log's writer never waits on a segment's lock. A background task applies what has
gathered with `segments.incremental.follow_changes`, `SETTLE` seconds after the first
change of a round: the batches of a burst are applied together, and the handler of the
same update has committed what it changed (a `/stop` the status) before it is read.
Changes that arrive while an update runs (or while a full refresh holds a segment) are
merged and applied next, within seconds.

An update that fails keeps its changes for the next try, after a pause that doubles;
after `MAX_TRIES` failed tries in a row they are dropped and logged, and the periodic full
refresh brings those segments up to date. So are changes beyond `MAX_PENDING`
subscribers waiting (a database down for long): the newest are kept. `close()` applies
what is still waiting, once.
"""

import asyncio
import logging
from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.wakeups import woken_within
from segments.changes import Changes, EventRecord, changes_of_events, merged
from segments.incremental import follow_changes
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.dependencies import Fact

logger = logging.getLogger(__name__)

MAX_PENDING = 100_000  # subscribers with changes waiting; beyond, the oldest are dropped
MAX_TRIES = 6  # failed updates in a row before their changes are dropped
FIRST_PAUSE = 0.5  # seconds after a failed update, doubling with each failure in a row
SETTLE = 0.5  # seconds from the first change of a round to applying the round


class MembershipFollower:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
        clock: Clock = utcnow,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._rfm_segments = rfm_segments
        self._clock = clock
        self._pending: dict[int, frozenset[Fact]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.dropped = 0  # subscribers whose changes were left to the periodic refresh

    async def hear(self, events: Sequence[EventRecord]) -> None:
        """The event-log listener: note what the committed `events` changed."""
        self.add(changes_of_events(events))

    def add(self, changes: Changes) -> None:
        """Note `changes` to apply; never waits on the database."""
        self._pending = merged(self._pending, changes)
        excess = len(self._pending) - MAX_PENDING
        if excess > 0:
            for subscriber in list(self._pending)[:excess]:
                del self._pending[subscriber]
            self._drop(excess, "too many waiting")
        if self._pending:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._follow_continuously(), name="membership")

    async def close(self) -> None:
        """Stop the background task once the update it is applying is done, then apply
        what is still waiting."""
        if self._task is not None:
            self._stopping.set()
            self._wake.set()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._pending:
            changes, self._pending = self._pending, {}
            try:
                await self._apply(changes)
            except Exception:  # closing: what is lost is the periodic refresh's to find
                logger.exception("membership updates for %d subscribers lost", len(changes))

    async def _follow_continuously(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            if await self._stopped_within(SETTLE):
                return
            self._wake.clear()
            changes, self._pending = self._pending, {}
            try:
                await self._apply(changes)
            except Exception as error:  # the follower must outlive any failure
                failures += 1
                if failures >= MAX_TRIES:
                    logger.exception("membership updates failed %d times in a row", failures)
                    self._drop(len(changes), type(error).__name__)
                    failures = 0
                    continue
                logger.warning(
                    "membership update failed (%s): will try again", type(error).__name__
                )
                self.add(changes)
                if await self._stopped_within(FIRST_PAUSE * 2 ** (failures - 1)):
                    return
            else:
                failures = 0

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds`, or less if `close()` is called meanwhile; whether it was."""
        return await woken_within(self._stopping, seconds)

    async def _apply(self, changes: Changes) -> None:
        await follow_changes(
            self._sessionmaker,
            changes=changes,
            now=self._clock(),
            rfm_segments=self._rfm_segments,
        )

    def _drop(self, subscribers: int, why: str) -> None:
        self.dropped += subscribers
        logger.warning(
            "membership changes of %d subscribers dropped (%s): the periodic refresh will "
            "bring their segments up to date",
            subscribers,
            why,
        )
