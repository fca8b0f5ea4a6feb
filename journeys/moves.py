"""The engine's primitive: moving a group of enrolments past a step, in SQL, with the step
logged once per enrolment.

Every step runs in one transaction per group of enrolments (one journey version, one
step): `move` claims and moves them in one guarded UPDATE (those still at that step,
inside, due; it locks them, so nothing else changes them until the commit); `log` writes
their step log rows in one INSERT ... SELECT and says which were new (a step done under
an earlier version of a journey may come round again after a move: its row stays, and
its effects are not done again); the step's effects are applied to the new ones only.
`note` writes the rows as `log` does for a step without effects, and asks nothing back.
A crash before the commit leaves nothing done, and the step happens on the next round;
after it, the step is logged and is never done again.

The ids go in and come back as one list each (core.id_lists), not a row each: a
batch is thousands of enrolments, and a row each is slow to decode.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Insert, and_, bindparam, literal, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_insert
from core.id_lists import among, id_rows, returned
from core.models import Subscriber
from journeys.models import (
    ENROLMENTS,
    STEPS,
    Enrolment,
    EnrolmentStatus,
    ExitReason,
    JourneyStep,
    ending,
)
from journeys.steps_spec import StepSpec
from journeys.timing import arrival
from journeys.versions import LoadedVersion
from segments.rules.compiler import SegmentRules


class Moved(NamedTuple):
    enrolment_id: int
    subscriber_id: int
    entry: int


@dataclass(frozen=True, slots=True)
class Taken:
    """The enrolments one move took, as columns in one order (a row each, `Moved`, only
    for those a step's effects are for: thousands of rows are slow to build)."""

    ids: list[int]
    subscribers: list[int]
    entries: list[int]

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class StepContext:
    """One group of enrolments at one step of one version, in one transaction."""

    session: AsyncSession
    version: LoadedVersion
    step: StepSpec
    ids: list[int]
    now: datetime
    rules: SegmentRules
    rfm_segments: tuple[str, ...]
    due: bool = True  # only those due (else: woken early, a wait_for that may be over)
    _zones: list[str | None] | None = field(default=None, repr=False)

    def guard(self) -> ColumnElement[bool]:
        """The group's enrolments still at this step of this version, inside (and due)."""
        conditions = [
            among(Enrolment.id, self.ids),
            Enrolment.version_id == self.version.id,
            Enrolment.step == self.step.id,
            Enrolment.status == EnrolmentStatus.ACTIVE,
        ]
        if self.due:
            conditions.append(Enrolment.next_due_at <= self.now)
        return and_(*conditions)

    async def zones(self) -> list[str | None]:
        """The timezones of the group's subscribers."""
        if self._zones is None:
            rows = await self.session.scalars(
                select(Subscriber.timezone)
                .where(
                    Subscriber.id.in_(
                        select(Enrolment.subscriber_id).where(among(Enrolment.id, self.ids))
                    )
                )
                .distinct()
            )
            self._zones = list(rows.all())
        return self._zones


async def move(
    context: StepContext,
    where: ColumnElement[bool],
    *,
    to: str | None,
    reason: ExitReason = ExitReason.COMPLETED,
) -> Taken:
    """Move the group's enrolments for which `where` holds on to step `to` (its wait set
    from now), or end them (`to` None: `reason`; an exit step stays their step)."""
    now = context.now
    values: dict[str, Any]
    if to is None:
        values = ending(reason, now)
        if reason is ExitReason.COMPLETED:
            values["step"] = None
    else:
        reached = arrival(context.version.spec, to, now)
        due = reached.sql(await context.zones() if reached.local else ())
        values = {
            "step": to, "step_since": now, "next_due_at": due, "waiting_for": reached.waiting_for,
        }  # fmt: skip
    table = ENROLMENTS  # Core, not the ORM: thousands of rows come back, as three lists
    ids, subscribers, entries = await returned(
        context.session,
        update(table).where(context.guard(), where).values(values),
        table.c.id, table.c.subscriber_id, table.c.entry,
    )  # fmt: skip
    return Taken(ids, subscribers, entries)


async def log(context: StepContext, moved: Taken, outcome: str) -> list[Moved]:
    """Log the step for `moved` with `outcome`, in one INSERT ... SELECT; those for whom
    it had happened already keep their row (and are left out of what is returned): the
    fresh ones, whom the step's effects are for."""
    if not moved:
        return []
    inserting = _step_rows(context, moved.ids, outcome)
    (logged,) = await returned(context.session, inserting, STEPS.c.enrolment_id)
    new = set(logged)
    rows = zip(moved.ids, moved.subscribers, moved.entries, strict=True)
    return [Moved(*row) for row in rows if row[0] in new]


async def note(context: StepContext, moved: Taken, outcome: str) -> None:
    """Log the step for `moved` as `log` does, for a step that has no effects: which of
    them were fresh is not asked for (nothing comes back)."""
    if moved:
        await context.session.execute(_step_rows(context, moved.ids, outcome))


def _step_rows(context: StepContext, enrolments: list[int], outcome: str) -> Insert:
    """The INSERT of the step's log rows for `enrolments` (each kept where there is one)."""
    session, version = context.session, context.version
    ids = id_rows(session, enrolments)
    rows = select(
        ids.c.value,
        literal(version.journey_id),  # the moved enrolments' journey: the version's
        literal(version.id),
        literal(context.step.id),
        literal(outcome),
        literal(context.now, JourneyStep.happened_at.type),
    ).where(true())  # SQLite reads ON CONFLICT after a bare FROM as a join's ON
    columns = ["enrolment_id", "journey_id", "version_id", "step", "outcome", "happened_at"]
    inserting = dialect_insert(session, STEPS).from_select(columns, rows)
    return inserting.on_conflict_do_nothing()


async def note_sent(context: StepContext, deliveries: dict[int, int]) -> None:
    """The deliveries a send step queued, on its log rows ({enrolment: delivery})."""
    if not deliveries:
        return
    table = STEPS
    await context.session.execute(
        update(table)
        .where(table.c.enrolment_id == bindparam("enrolment"), table.c.step == context.step.id)
        .values(outcome="sent", delivery_id=bindparam("delivery")),
        [
            {"enrolment": enrolment, "delivery": delivery}
            for enrolment, delivery in deliveries.items()
        ],
    )
