"""A journey's enrolments counted in grouped SQL: where people are, why they left, who
converted, per journey and per step, and the people of the journey and of its holdout.

What the counts mean (journeys.models says where they come from):

- an *entry* is one enrolment; someone who entered three times is three entries and one
  *person*. Entries in the holdout are counted apart and never reach a step.
- a step was *reached* by an entry when the step happened to it (the step log,
  `JourneyStep`) or when it is, or was when it left, the entry's current step (waiting
  there, or leaving from there: a goal met during a wait, an unsubscribe, an exit step).
- *converted*: the goal happened while inside (`Enrolment.converted_at`). Per step, the
  entries that reached the step and converted, there or later.
- *exited*: ended entries by `exit_reason`; per step, those that left while at it.

Nothing is fetched per enrolment: every query groups in the database.
"""

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

from sqlalchemy import case, func, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from journeys.models import Enrolment, EnrolmentStatus, ExitReason, JourneyStep

_CONVERTED = case((Enrolment.converted_at.is_not(None), 1), else_=0)
_IN_JOURNEY = Enrolment.status != EnrolmentStatus.HOLDOUT


@dataclass(frozen=True, slots=True)
class Entries:
    """The journey's entries as a whole."""

    entered: int = 0  # every entry, the holdout's included
    people: int = 0  # distinct people who entered
    holdout: int = 0  # entries kept out as the control group
    inside: int = 0  # entries still in the journey
    converted: int = 0  # entries (not held out) that met the goal
    exited: dict[ExitReason, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepPlaces:
    """One step's entries (see the module docstring)."""

    reached: int = 0
    waiting: int = 0  # inside, at this step now
    converted: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # the step log's: sent, yes, no...
    exited: dict[ExitReason, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class People:
    """Distinct people in the journey (any entry not held out) and in the holdout only,
    and how many of each converted (on any of their entries)."""

    in_journey: int = 0
    in_journey_converted: int = 0
    holdout: int = 0
    holdout_converted: int = 0


async def entries(session: AsyncSession, *, journey_ids: Collection[int]) -> dict[int, Entries]:
    """The Entries of each journey of `journey_ids` (one that nobody entered has none)."""
    if not journey_ids:
        return {}
    ours = Enrolment.journey_id.in_(list(journey_ids))
    rows = await session.execute(
        select(
            Enrolment.journey_id, Enrolment.status, Enrolment.exit_reason, _CONVERTED, func.count()
        )
        .where(ours)
        .group_by(Enrolment.journey_id, Enrolment.status, Enrolment.exit_reason, _CONVERTED)
    )
    by_status: dict[int, Counter[EnrolmentStatus]] = defaultdict(Counter)
    exited: dict[int, Counter[ExitReason]] = defaultdict(Counter)
    converted: Counter[int] = Counter()
    for journey_id, status, reason, goal, count in rows.all():
        by_status[journey_id][status] += count
        if reason is not None:
            exited[journey_id][reason] += count
        if goal and status is not EnrolmentStatus.HOLDOUT:
            converted[journey_id] += count
    people = await session.execute(
        select(Enrolment.journey_id, func.count(func.distinct(Enrolment.subscriber_id)))
        .where(ours)
        .group_by(Enrolment.journey_id)
    )
    return {
        journey_id: Entries(
            entered=sum(by_status[journey_id].values()),
            people=count,
            holdout=by_status[journey_id][EnrolmentStatus.HOLDOUT],
            inside=by_status[journey_id][EnrolmentStatus.ACTIVE],
            converted=converted[journey_id],
            exited=dict(exited[journey_id]),
        )
        for journey_id, count in people.all()
    }


async def step_places(session: AsyncSession, *, journey_id: int) -> dict[str, StepPlaces]:
    """Per step id (of any version) that anyone reached."""
    reached = await _reached(session, journey_id)
    logged: dict[str, dict[str, int]] = {}
    for step, outcome, count in await session.execute(
        select(JourneyStep.step, JourneyStep.outcome, func.count())
        .where(JourneyStep.journey_id == journey_id)
        .group_by(JourneyStep.step, JourneyStep.outcome)
    ):
        logged.setdefault(step, {})[outcome] = count
    waiting: Counter[str] = Counter()
    exited: dict[str, dict[ExitReason, int]] = {}
    for at, status, reason, count in await session.execute(
        select(Enrolment.step, Enrolment.status, Enrolment.exit_reason, func.count())
        .where(Enrolment.journey_id == journey_id, Enrolment.step.is_not(None), _IN_JOURNEY)
        .group_by(Enrolment.step, Enrolment.status, Enrolment.exit_reason)
    ):
        if status is EnrolmentStatus.ACTIVE:
            waiting[str(at)] += count
        if reason is not None:
            exited.setdefault(str(at), {})[reason] = count
    return {
        step: StepPlaces(
            count, waiting[step], converted, logged.get(step, {}), exited.get(step, {})
        )
        for step, (count, converted) in reached.items()
    }


async def people(session: AsyncSession, *, journey_id: int) -> People:
    """Each person once: in the journey if any of their entries was, else in the holdout
    (held out once and messaged once counts as in the journey: no control)."""
    person = (
        select(
            func.max(case((_IN_JOURNEY, 1), else_=0)).label("in_journey"),
            func.max(_CONVERTED).label("converted"),
        )
        .where(Enrolment.journey_id == journey_id)
        .group_by(Enrolment.subscriber_id)
        .subquery()
    )
    rows = await session.execute(
        select(person.c.in_journey, person.c.converted, func.count()).group_by(
            person.c.in_journey, person.c.converted
        )
    )
    counts = {(bool(group), bool(goal)): count for group, goal, count in rows.all()}
    return People(
        in_journey=counts.get((True, False), 0) + counts.get((True, True), 0),
        in_journey_converted=counts.get((True, True), 0),
        holdout=counts.get((False, False), 0) + counts.get((False, True), 0),
        holdout_converted=counts.get((False, True), 0),
    )


async def _reached(session: AsyncSession, journey_id: int) -> dict[str, tuple[int, int]]:
    """Per step: the entries that reached it and how many of them converted."""
    logged = select(JourneyStep.enrolment_id.label("enrolment_id"), JourneyStep.step).where(
        JourneyStep.journey_id == journey_id
    )
    current = select(Enrolment.id, Enrolment.step).where(
        Enrolment.journey_id == journey_id, Enrolment.step.is_not(None), _IN_JOURNEY
    )
    reached = union(logged, current).subquery()  # UNION: an entry once per step
    rows = await session.execute(
        select(reached.c.step, func.count(), func.sum(_CONVERTED))
        .join(Enrolment, Enrolment.id == reached.c.enrolment_id)
        .group_by(reached.c.step)
    )
    return {step: (count, int(converted or 0)) for step, count, converted in rows.all()}
