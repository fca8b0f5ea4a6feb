"""The engine: moves due enrolments on, a batch at a time, on the scheduler's leader.

Each round reads up to `read` of each live journey's enrolments due by now, the earliest
(`next_due_at`, an index per journey), as groups of one version and one step (the ids of
each as one list); each group's step happens to a batch of `batch` of them at a time, in
a transaction of its own (journeys.moves, journeys.steps). A step that leads straight on
to another leaves the enrolments due at once, and the next round takes them there. A
paused journey's enrolments wait where they are.

A read is many batches because each read walks the due index from its start, past the
entries left by everyone moved on since the table was last vacuumed: skipped cheaply
once no transaction can see them any more, but checked one by one against the table
while an older snapshot is open (a long report, a CRM sync). Read a batch at a time, the
walks of a call would then grow with the square of the enrolments it moves.

`wake` is for wait_for steps whose awaited happening may just have happened (the trigger
feed saw such an event or order for these subscribers): those it has happened for go on
at once, the others keep waiting for their deadline.
"""

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import Clock, utcnow
from core.errors import SegbotError
from core.id_lists import among, gathered
from journeys.models import ENROLMENTS, Enrolment, EnrolmentStatus, Journey, JourneyStatus
from journeys.moves import StepContext
from journeys.steps import StepDone, run_step
from journeys.versions import Versions
from segments.rfm.scoring import DEFAULT_SEGMENT_MAP
from segments.rules.compiler import SegmentRules
from segments.saved import saved_rules

logger = logging.getLogger(__name__)

BATCH = 5000  # enrolments moved past a step in one transaction
READ = 50_000  # due enrolments read at once, per journey
MAX_ROUNDS = 50  # reads per call (steps may lead straight on to others)
MAX_MOVED = 250_000  # moved per call: then the trigger feed gets its turn
HOLD_AFTER_ERROR = timedelta(hours=1)  # a step that cannot happen is tried again then


@dataclass(frozen=True, slots=True)
class Advanced:
    moved: int = 0
    queued: int = 0
    notices: int = 0
    postponed: int = 0
    stuck: tuple[str, ...] = ()  # steps that could not happen, each with why

    def __add__(self, other: "Advanced | StepDone") -> "Advanced":
        return Advanced(
            self.moved + other.moved,
            self.queued + other.queued,
            self.notices + other.notices,
            self.postponed + other.postponed,
            self.stuck + other.stuck if isinstance(other, Advanced) else self.stuck,
        )


class Engine:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Clock = utcnow,
        rfm_segments: Collection[str] = DEFAULT_SEGMENT_MAP.names,
        batch: int = BATCH,
        read: int = READ,
        versions: Versions | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._rfm_segments = tuple(rfm_segments)
        self._batch = batch
        self._read = read
        self.versions = versions or Versions()

    async def advance(self) -> Advanced:
        """Every step due by now, round after round, until none is (or MAX_ROUNDS, or
        MAX_MOVED moved)."""
        total = Advanced()
        rules: SegmentRules | None = None  # the saved segments, read once per call
        for _ in range(MAX_ROUNDS):
            now = self._clock()
            groups = await self._due(now)
            if not groups:
                break
            if rules is None:
                rules = await self._rules()
            done = await self._run_groups(groups, rules, now=now, due=True)
            total += done
            if not done.moved:
                break  # nothing could move (all held back): the next call tries again
            if total.moved >= MAX_MOVED:
                break
        return total

    async def _due(self, now: datetime) -> dict[tuple[int, str], list[int]]:
        """Up to `read` of each live journey's enrolments due by `now`, the earliest."""
        groups: dict[tuple[int, str], list[int]] = {}
        table = ENROLMENTS
        async with self._sessionmaker() as session:
            live = await session.scalars(
                select(Journey.id).where(Journey.status == JourneyStatus.LIVE)
            )
            for journey_id in live.all():
                due = (
                    select(table.c.id, table.c.version_id, table.c.step)
                    .where(
                        table.c.journey_id == journey_id,
                        table.c.status == EnrolmentStatus.ACTIVE.value,
                        table.c.next_due_at <= now,
                    )
                    .order_by(table.c.next_due_at)
                    .limit(self._read)
                )
                groups |= await _grouped(session, due)
        return groups

    async def _rules(self) -> SegmentRules:
        async with self._sessionmaker() as session:
            return await saved_rules(session, rfm_segments=self._rfm_segments)

    async def wake(self, waiting: Mapping[str, Collection[int]]) -> Advanced:
        """Wait_for steps (of live journeys) that wait for a kind of happening (a key of
        `waiting`) of these subscribers: on at once where it happened."""
        groups: dict[tuple[int, str], list[int]] = {}
        table = ENROLMENTS
        async with self._sessionmaker() as session:
            for kind, subscribers in waiting.items():
                found = (
                    select(table.c.id, table.c.version_id, table.c.step)
                    .join(Journey, Journey.id == table.c.journey_id)
                    .where(
                        among(table.c.subscriber_id, list(subscribers)),
                        table.c.status == EnrolmentStatus.ACTIVE.value,
                        table.c.waiting_for == kind,
                        Journey.status == JourneyStatus.LIVE,
                    )
                )
                for key, ids in (await _grouped(session, found)).items():
                    groups.setdefault(key, []).extend(ids)
        if not groups:
            return Advanced()
        return await self._run_groups(groups, await self._rules(), now=self._clock(), due=False)

    async def _run_groups(
        self,
        groups: dict[tuple[int, str], list[int]],
        rules: SegmentRules,
        *,
        now: datetime,
        due: bool,
    ) -> Advanced:
        total = Advanced()
        for (version_id, step_id), ids in groups.items():
            for start in range(0, len(ids), self._batch):
                batch = ids[start : start + self._batch]
                total += await self._run_batch(version_id, step_id, batch, rules, now, due=due)
        return total

    async def _run_batch(
        self,
        version_id: int,
        step_id: str,
        ids: list[int],
        rules: SegmentRules,
        now: datetime,
        *,
        due: bool,
    ) -> Advanced:
        """The step for these enrolments, in a transaction of its own."""
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
                return Advanced(stuck=(f"step {step_id} cannot happen ({error})",))
            await session.commit()
        return Advanced() + done


async def _hold(session: AsyncSession, ids: list[int], *, until: datetime) -> None:
    await session.execute(
        update(Enrolment)
        .where(among(Enrolment.id, ids), Enrolment.status == EnrolmentStatus.ACTIVE)
        .values(next_due_at=until)
        .execution_options(synchronize_session=False)
    )
    await session.commit()


async def _grouped(
    session: AsyncSession, rows: Select[int, int, str | None]
) -> dict[tuple[int, str], list[int]]:
    """The enrolments `rows` finds (id, version, step) by version and step, the ids of
    each as one list (one row per group comes back, not one per enrolment); the group
    due first comes first."""
    found = rows.add_columns(ENROLMENTS.c.next_due_at).subquery()
    groups = await session.execute(
        select(found.c.version_id, found.c.step, gathered(found.c.id))
        .where(found.c.step.is_not(None))
        .group_by(found.c.version_id, found.c.step)
        .order_by(func.min(found.c.next_due_at))
    )
    return {(version_id, step): ids for version_id, step, ids in groups.all()}
