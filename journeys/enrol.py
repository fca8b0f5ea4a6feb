"""Entering a journey: whom a trigger (or an admin) puts in, and how.

A candidate enters when they are active, match the entry rule, are not inside the
journey already, and the re-entry policy lets them (once: never entered before; a
duration: not entered within it; every_time: any time they are not inside). Each entry
is a new enrolment, their n-th, keyed by what triggered it: the same event, order or date
never enrols anyone twice (a unique key; so does being inside twice, a unique index on
those inside), however often the trigger is looked at, by however many processes.

The holdout (a stable hash of subscriber and journey) enters as `holdout`: counted, kept
out of every step, for lift. Everyone else is due at the first step at once (or when it
says, if it is a wait).
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_insert
from core.id_lists import among
from core.models import Subscriber, SubscriberStatus
from journeys.models import Enrolment, EnrolmentStatus
from journeys.spec import JourneySpec
from journeys.timing import arrival
from journeys.triggers_spec import Reentry
from segments.rules import parse
from segments.rules.compiler import SegmentRules, condition

CHUNK = 1000  # candidates looked at per statement
_HOLDOUT_PRIME = 10007  # as broadcasts.planner keeps its holdout


@dataclass(frozen=True, slots=True)
class Candidate:
    subscriber_id: int
    key: str  # what triggered it: the same key never enrols anyone twice


@dataclass(frozen=True, slots=True)
class Entered:
    entered: int = 0  # now inside
    holdout: int = 0  # entered as the holdout

    def __add__(self, other: "Entered") -> "Entered":
        return Entered(self.entered + other.entered, self.holdout + other.holdout)


async def enrol(
    session: AsyncSession,
    *,
    journey_id: int,
    version_id: int,
    spec: JourneySpec,
    candidates: Sequence[Candidate],
    now: datetime,
    rules: SegmentRules,
    rfm_segments: Collection[str],
) -> Entered:
    """Enrol whom of `candidates` may enter (see the module docstring); the caller
    commits. A subscriber named twice is looked at once, with their first key."""
    first_keys: dict[int, str] = {}
    for candidate in candidates:
        first_keys.setdefault(candidate.subscriber_id, candidate.key)
    ids = list(first_keys)
    total = Entered()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        allowed = await _may_enter(session, journey_id, spec, chunk, now, rules, rfm_segments)
        total += await _insert(session, journey_id, version_id, spec, allowed, first_keys, now)
    return total


async def _may_enter(
    session: AsyncSession,
    journey_id: int,
    spec: JourneySpec,
    ids: list[int],
    now: datetime,
    rules: SegmentRules,
    rfm_segments: Collection[str],
) -> dict[int, tuple[int, str | None]]:
    """Those of `ids` who may enter now: {subscriber: (their entry number, timezone)}."""
    query = select(Subscriber.id, Subscriber.timezone).where(
        among(Subscriber.id, ids), Subscriber.status == SubscriberStatus.ACTIVE
    )
    if spec.entry.rule is not None:
        rule = parse(spec.entry.rule, rfm_segments=rfm_segments)
        query = query.where(condition(rule, now=now, segments=rules))
    eligible = dict((await session.execute(query)).all())
    inside = func.sum(case((Enrolment.status == EnrolmentStatus.ACTIVE, 1), else_=0))
    latest = (func.max(Enrolment.entry), func.max(Enrolment.entered_at), inside)
    history = await session.execute(
        select(Enrolment.subscriber_id, *latest)
        .where(
            Enrolment.journey_id == journey_id,
            among(Enrolment.subscriber_id, list(eligible)),
        )
        .group_by(Enrolment.subscriber_id)
    )
    entries = dict.fromkeys(eligible, 1)
    for subscriber, last_entry, last_entered, now_inside in history.all():
        if now_inside or not _again(spec.entry.reentry, last_entered, now):
            del entries[subscriber]
        else:
            entries[subscriber] = last_entry + 1
    return {subscriber: (entry, eligible[subscriber]) for subscriber, entry in entries.items()}


def _again(policy: Reentry | timedelta, last_entered: datetime, now: datetime) -> bool:
    """Whether someone who last entered at `last_entered` may enter again now."""
    if policy is Reentry.ONCE:
        return False
    if policy is Reentry.EVERY_TIME:
        return True
    return last_entered <= now - policy


async def _insert(
    session: AsyncSession,
    journey_id: int,
    version_id: int,
    spec: JourneySpec,
    allowed: dict[int, tuple[int, str | None]],
    keys: dict[int, str],
    now: datetime,
) -> Entered:
    if not allowed:
        return Entered()
    first = spec.steps[0].id
    reached = arrival(spec, first, now)
    rows = []
    for subscriber, (entry, timezone) in allowed.items():
        held_out = (subscriber * 7919 + journey_id) % _HOLDOUT_PRIME % 100 < spec.holdout
        rows.append(
            {
                "journey_id": journey_id, "version_id": version_id, "subscriber_id": subscriber,
                "entry": entry, "trigger_key": keys[subscriber], "entered_at": now,
                "status": EnrolmentStatus.HOLDOUT if held_out else EnrolmentStatus.ACTIVE,
                "step": None if held_out else first, "step_since": now,
                "next_due_at": None if held_out else reached.due(timezone),
                "waiting_for": None if held_out else reached.waiting_for,
            }
        )  # fmt: skip
    statement = dialect_insert(session, Enrolment).on_conflict_do_nothing()
    made = await session.execute(statement.returning(Enrolment.status), rows)
    statuses = list(made.scalars().all())
    return Entered(
        entered=statuses.count(EnrolmentStatus.ACTIVE),
        holdout=statuses.count(EnrolmentStatus.HOLDOUT),
    )
