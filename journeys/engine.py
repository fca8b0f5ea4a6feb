"""The engine: moves due enrolments on, a batch at a time, on the scheduler's leader.

Each live journey's enrolments due by now (`next_due_at`, an index per journey) are read
in batches of `batch`, split into groups of one version and one step, and each group's
step happens in a transaction of its own (journeys.moves, journeys.steps): a step that
leads straight on to another leaves the enrolments due at once, and the next round takes
them there. A paused journey's enrolments wait where they are.

`wake` is for wait_for steps whose awaited happening may just have happened (the trigger
feed saw such an event or order for these subscribers): those it has happened for go on
at once, the others keep waiting for their deadline.
"""

import logging
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.errors import SegbotError
from journeys.id_lists import among
from journeys.models import Enrolment, EnrolmentStatus, Journey, JourneyStatus
from journeys.moves import StepContext
from journeys.steps import StepDone, run_step
from journeys.versions import Versions
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.saved import saved_rules

logger = logging.getLogger(__name__)

BATCH = 5000  # enrolments read at once
MAX_ROUNDS = 50  # rounds of batches per call: then the trigger feed gets its turn
HOLD_AFTER_ERROR = timedelta(hours=1)  # a step that cannot happen is tried again then


@dataclass(frozen=True, slots=True)
class Advanced:
    moved: int = 0
    queued: int = 0
    notices: int = 0
    postponed: int = 0

    def __add__(self, other: "Advanced | StepDone") -> "Advanced":
        return Advanced(
            self.moved + other.moved,
            self.queued + other.queued,
            self.notices + other.notices,
            self.postponed + other.postponed,
        )


class Engine:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
        rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
        batch: int = BATCH,
        versions: Versions | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._rfm_segments = tuple(rfm_segments)
        self._batch = batch
        self.versions = versions or Versions()

    async def advance(self) -> Advanced:
        """Every step due by now, round after round, until none is (or MAX_ROUNDS)."""
        total = Advanced()
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            async with self._sessionmaker() as session:
                live = list(
                    (
                        await session.scalars(
                            select(Journey.id).where(Journey.status == JourneyStatus.LIVE)
                        )
                    ).all()
                )
                due: list[tuple[int, int, str | None]] = []
                for journey_id in live:
                    rows = await session.execute(
                        select(Enrolment.id, Enrolment.version_id, Enrolment.step)
                        .where(
                            Enrolment.journey_id == journey_id,
                            Enrolment.status == EnrolmentStatus.ACTIVE,
                            Enrolment.next_due_at <= now,
                        )
                        .order_by(Enrolment.next_due_at)
                        .limit(self._batch)
                    )
                    due += [(key, version, step) for key, version, step in rows.all()]
            if not due:
                break
            done = await self._run_groups(_grouped(due), now=now, due=True)
            total += done
            if not done.moved:
                break  # nothing could move (all held back): the next call tries again
        return total

    async def wake(self, waiting: Mapping[str, Collection[int]]) -> Advanced:
        """Wait_for steps (of live journeys) that wait for a kind of happening (a key of
        `waiting`) of these subscribers: on at once where it happened."""
        found: list[tuple[int, int, str | None]] = []
        async with self._sessionmaker() as session:
            for kind, subscribers in waiting.items():
                rows = await session.execute(
                    select(Enrolment.id, Enrolment.version_id, Enrolment.step)
                    .join(Journey, Journey.id == Enrolment.journey_id)
                    .where(
                        among(Enrolment.subscriber_id, list(subscribers)),
                        Enrolment.status == EnrolmentStatus.ACTIVE,
                        Enrolment.waiting_for == kind,
                        Journey.status == JourneyStatus.LIVE,
                    )
                )
                found += [(key, version, step) for key, version, step in rows.all()]
        if not found:
            return Advanced()
        return await self._run_groups(_grouped(found), now=self._clock(), due=False)

    async def _run_groups(
        self, groups: dict[tuple[int, str], list[int]], *, now: datetime, due: bool
    ) -> Advanced:
        total = Advanced()
        async with self._sessionmaker() as session:
            rules = await saved_rules(session, rfm_segments=self._rfm_segments)
        for (version_id, step_id), ids in groups.items():
            async with self._sessionmaker() as session:
                version = await self.versions.get(session, version_id)
                context = StepContext(
                    session, version, version.spec.step(step_id), ids, now, rules,
                    self._rfm_segments, due=due,
                )  # fmt: skip
                try:
                    done = await run_step(context)
                except SegbotError as error:  # e.g. a rule naming a segment since deleted
                    await session.rollback()
                    await _hold(session, ids, until=now + HOLD_AFTER_ERROR)
                    logger.warning(
                        "journey version %d, step %s cannot happen (%s): %d people wait %s",
                        version_id, step_id, error, len(ids), HOLD_AFTER_ERROR,
                    )  # fmt: skip
                    continue
                await session.commit()
            total += done
        return total


async def _hold(session: AsyncSession, ids: list[int], *, until: datetime) -> None:
    await session.execute(
        update(Enrolment)
        .where(among(Enrolment.id, ids), Enrolment.status == EnrolmentStatus.ACTIVE)
        .values(next_due_at=until)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


def _grouped(rows: list[tuple[int, int, str | None]]) -> dict[tuple[int, str], list[int]]:
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for enrolment_id, version_id, step in rows:
        if step is not None:
            groups[(version_id, step)].append(enrolment_id)
    return groups
