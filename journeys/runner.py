"""The journey runner: what the scheduler's leader keeps going (bot.runtime) so journeys
react to what subscribers do within seconds and move people on when their steps are due.

Each round: read what was logged and bought since the last round (journeys.feed; woken
at once by the event log's listener when a batch of touches is committed in this
process, else every `poll_seconds`; at most `feed_batches` batches of each feed, so a
backlog, such as a shop's history just imported, is read over rounds that each advance
the due steps too, one after another), end the journeys of whoever stopped, convert those
whose goal happened, enrol whom the triggers name (journeys.triggers, journeys.enrol),
with the feeds' positions in the same transaction; move on wait_for steps whose
happening just came; every `periodic_seconds` look for date, inactivity and RFM triggers
(journeys.periodic); then advance every due step (journeys.engine), send the admin
notices queued (journeys.notices), and wake the sender when messages were queued.

`keep_running` restarts a round that failed (logged), starting the feeds again from
their saved positions: everything a round does is idempotent, so nothing happens twice.
A round that fails while the runner stops ends it (core.wakeups.end_if_stopping).
"""

import asyncio
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.errors import SegbotError
from core.events import LoggedEvent
from core.models import Event
from core.wakeups import end_if_stopping, woken_within
from journeys.engine import Advanced, Engine
from journeys.enrol import Candidate, Entered, enrol
from journeys.feed import journey_feeds
from journeys.models import Journey, JourneyStatus, JourneyVersion
from journeys.notices import Notifier
from journeys.periodic import date_candidates, rfm_candidates, rfm_moves
from journeys.purchases import Purchases
from journeys.sends import reopen_runs
from journeys.triggers import LiveJourney, LoggedRow, convert, end_stopped, react
from journeys.versions import Versions
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.saved import saved_rules

logger = logging.getLogger(__name__)

FEED_BATCH = 1000  # rows read from a feed at once
FEED_BATCHES = 10  # batches of each feed read in one round, at most
RESTART_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Round:
    """What one round did."""

    events: int = 0
    orders: int = 0
    entered: Entered = field(default_factory=Entered)
    converted: int = 0
    stopped: int = 0
    advanced: Advanced = field(default_factory=Advanced)
    behind: bool = False  # a feed had more to read: the next round starts at once

    def __add__(self, other: "Round") -> "Round":
        return Round(
            self.events + other.events, self.orders + other.orders,
            self.entered + other.entered, self.converted + other.converted,
            self.stopped + other.stopped, self.advanced + other.advanced,
            self.behind or other.behind,
        )  # fmt: skip


class JourneyRunner:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        notifier: Notifier | None = None,
        on_queued: Callable[[], None] = lambda: None,
        clock: Clock = utcnow,
        rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
        poll_seconds: float = 0.5,
        periodic_seconds: float = 60.0,
        feed_batches: int = FEED_BATCHES,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._rfm_segments = tuple(rfm_segments)
        self._on_queued = on_queued
        self._poll_seconds = poll_seconds
        self._periodic_seconds = periodic_seconds
        if feed_batches < 1:
            raise ValueError(f"feed_batches must be at least 1, not {feed_batches}")
        self._feed_batches = feed_batches
        self.versions = Versions()
        self._unreadable: set[int] = set()  # versions said to be unreadable, said once
        self.engine = Engine(
            sessionmaker, clock=clock, rfm_segments=rfm_segments, versions=self.versions
        )
        self._notifier = notifier
        self._events, orders = journey_feeds()
        self._purchases = Purchases(orders, clock=clock)
        self._wake = asyncio.Event()
        self._periodic_at: datetime | None = None

    async def heard(self, events: Sequence[LoggedEvent]) -> None:
        """The event log's listener (core.events): a batch was committed."""
        self._wake.set()

    async def keep_running(self) -> None:
        """Round after round until cancelled; a failed round is logged and run again."""
        if self._notifier is not None:
            await self._notifier.settle()
        while True:
            self._wake.clear()  # what is heard from now on wakes the next round
            try:
                done = await self.run_round()
            except Exception:
                end_if_stopping(logger, "a journey round")
                logger.exception("a journey round failed; again in %.0f s", RESTART_SECONDS)
                self._events.forget()
                self._purchases.feed.forget()
                await asyncio.sleep(RESTART_SECONDS)
                continue
            if not done.behind:
                await woken_within(self._wake, self._poll_seconds)

    async def run_round(self) -> Round:
        """One round (see the module docstring)."""
        found = await self._follow_feeds()
        if self._periodic_due():
            found += Round(entered=await self.check_periodic())
        found += Round(advanced=await self.engine.advance())
        if self._notifier is not None:
            await self._notifier.send_queued()
        async with self._sessionmaker() as session:
            reopened = await reopen_runs(session)
        if found.advanced.queued or reopened:
            self._on_queued()
        return found

    async def _follow_feeds(self) -> Round:
        total = Round()
        for _ in range(self._feed_batches):
            journeys = await self._journeys()
            events = await self._events.read(self._sessionmaker, _events_query, limit=FEED_BATCH)
            orders, bought = await self._purchases.read(self._sessionmaker, limit=FEED_BATCH)
            logged = [LoggedRow(key, who, kind, at, data) for key, who, kind, at, data in events]
            reactions = react(journeys, logged, bought)
            now = self._clock()
            async with self._sessionmaker() as session:
                stopped = await end_stopped(session, reactions.stops)
                converted = await convert(session, journeys, reactions.conversions)
                entered = await self._enrol(session, journeys, reactions.candidates, now)
                await self._events.save(session, now)
                await self._purchases.save(session, now)
                await session.commit()
            woken = await self.engine.wake(reactions.wakes)
            total += Round(len(events), orders, entered, converted, stopped, woken)
            if len(events) < FEED_BATCH and orders < FEED_BATCH:
                return total
        return total + Round(behind=True)

    async def check_periodic(self) -> Entered:
        """Date, inactivity and RFM triggers of every live journey, since its last check."""
        now = self._clock()
        self._periodic_at = now
        live = [each for each in await self._journeys() if each.status is JourneyStatus.LIVE]
        async with self._sessionmaker() as session:
            ids = [journey.id for journey in live]
            rows = await session.scalars(select(Journey).where(Journey.id.in_(ids)))
            checked = {journey.id: journey for journey in rows.all()}
            since_rfm = min((journey.checked_at for journey in checked.values()), default=now)
            wants_rfm = any(journey.spec.trigger.rfm for journey in live)
            moves = await rfm_moves(session, checked_at=since_rfm) if wants_rfm else []
            candidates: dict[int, list[Candidate]] = {}
            for journey in live:
                since = checked[journey.id].checked_at
                found = await date_candidates(session, journey, since=since, now=now)
                candidates[journey.id] = found + rfm_candidates(journey, moves)
                checked[journey.id].checked_at = now
            entered = await self._enrol(session, live, candidates, now)
            await session.commit()
        return entered

    def _periodic_due(self) -> bool:
        last = self._periodic_at
        return last is None or (self._clock() - last).total_seconds() >= self._periodic_seconds

    async def _enrol(
        self,
        session: AsyncSession,
        journeys: Sequence[LiveJourney],
        candidates: dict[int, list[Candidate]],
        now: datetime,
    ) -> Entered:
        entered = Entered()
        if not any(candidates.values()):
            return entered
        rules = await saved_rules(session, rfm_segments=self._rfm_segments)
        for journey in journeys:
            if not candidates.get(journey.id):
                continue
            try:
                entered += await enrol(
                    session, journey_id=journey.id, version_id=journey.version_id,
                    spec=journey.spec, candidates=candidates[journey.id], now=now, rules=rules,
                    rfm_segments=self._rfm_segments,
                )  # fmt: skip
            except SegbotError as error:  # its entry rule names a segment since deleted
                logger.warning(
                    "journey %s: nobody can enter (%s); %d left out",
                    journey.spec.name, error, len(candidates[journey.id]),
                )  # fmt: skip
        return entered

    async def _journeys(self) -> list[LiveJourney]:
        """Live and paused journeys, each with its latest version."""
        async with self._sessionmaker() as session:
            rows = await session.execute(
                select(Journey.id, Journey.status, Journey.created_at, JourneyVersion.id)
                .join(
                    JourneyVersion,
                    (JourneyVersion.journey_id == Journey.id)
                    & (JourneyVersion.version == Journey.version),
                )
                .where(Journey.status != JourneyStatus.ARCHIVED)
            )
            found = []
            for journey_id, status, created_at, version_id in rows.all():
                try:
                    version = await self.versions.get(session, version_id)
                except ValidationError as error:  # one journey must not stop the others
                    if version_id not in self._unreadable:
                        self._unreadable.add(version_id)
                        logger.error(
                            "journey %d version %d cannot be read (at %s), so it is left out",
                            journey_id, version_id, _first_place(error),
                        )  # fmt: skip
                    continue
                found.append(LiveJourney(journey_id, status, created_at, version_id, version.spec))
        return found


def _first_place(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.errors(include_input=False)[0]["loc"])


def _events_query(where: ColumnElement[bool]) -> Any:
    columns = (Event.id, Event.subscriber_id, Event.type, Event.occurred_at, Event.payload)
    return select(*columns).where(where)
