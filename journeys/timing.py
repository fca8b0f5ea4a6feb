"""When a step is due, per subscriber: a wait's end, a local time of day or weekday in
their timezone, the end of the quiet hours. Local times are computed once per timezone
among the people concerned (there are few) and become one CASE in SQL, as the planner
does for broadcasts (broadcasts.local_time).
"""

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import ColumnElement, case, literal, select

from broadcasts.local_time import after_quiet_hours, clock_time, zone
from core.models import Subscriber
from journeys.models import Enrolment
from journeys.spec import JourneySpec

Moment = ColumnElement[datetime | None]


def next_local(
    now: datetime, zone_name: str | None, fallback: str, *, at: time, weekday: int | None
) -> datetime:
    """The first moment after `now` when the clock of `zone_name` (else `fallback`) shows
    `at`, on `weekday` (0 Monday .. 6 Sunday) when one is given. Compared in UTC: a time
    the clock shows twice (when it goes back) is each time in turn, one it skips (when
    it goes forward) is the moment it jumps past it."""
    tz = zone(zone_name, fallback)
    local = now.astimezone(tz)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        if weekday is not None and day.weekday() != weekday:
            continue
        for fold in (0, 1):
            moment = datetime.combine(day, at.replace(fold=fold), tzinfo=tz).astimezone(UTC)
            if moment > now:
                return moment
    raise AssertionError("every weekday comes within eight days")


def per_zone(zones: Collection[str | None], moment: Callable[[str | None], datetime]) -> Moment:
    """`moment(zone)` for each subscriber, by their timezone: a correlated subquery on the
    enrolment's subscriber (one CASE branch per zone that differs from the fallback)."""
    fallback = moment(None)
    branches = [
        (Subscriber.timezone == name, literal(at, Enrolment.next_due_at.type))
        for name in zones
        if name is not None and (at := moment(name)) != fallback
    ]
    otherwise = literal(fallback, Enrolment.next_due_at.type)
    chosen = case(*branches, else_=otherwise) if branches else otherwise
    return select(chosen).where(Subscriber.id == Enrolment.subscriber_id).scalar_subquery()


@dataclass(frozen=True, slots=True)
class Arrival:
    """When someone reaching a step is next due there: `due(timezone)` (their timezone's
    answer differs only when `local`), and what a wait_for step waits for (its kind)."""

    due: Callable[[str | None], datetime]
    local: bool = False
    waiting_for: str | None = None

    def sql(self, zones: Collection[str | None]) -> Moment:
        """`due` per subscriber (`zones`: their timezones, needed when `local`)."""
        if self.local:
            return per_zone(zones, self.due)
        return literal(self.due(None), Enrolment.next_due_at.type)


def arrival(spec: JourneySpec, step_id: str, now: datetime) -> Arrival:
    """A wait ends when it says, a wait_for at its deadline (or earlier, when what it
    waits for happens: journeys.engine); any other step is due at once."""
    step = spec.step(step_id)
    if step.wait_for is not None and step.within is not None:
        deadline = now + step.within
        return Arrival(lambda _zone: deadline, waiting_for=step.wait_for.kind.value)
    wait = step.wait
    if wait is None:
        return Arrival(lambda _zone: now)
    if wait.duration is not None:
        end = now + wait.duration
        return Arrival(lambda _zone: end)
    at = clock_time(wait.until) if wait.until else time()
    weekday = wait.weekday.number if wait.weekday else None
    return Arrival(
        lambda name: next_local(now, name, spec.timezone, at=at, weekday=weekday), local=True
    )


def quiet_end(spec: JourneySpec, now: datetime, zones: Collection[str | None]) -> Moment | None:
    """When the journey's quiet hours end for each subscriber (`now` when they are not in
    them); None when the journey has none."""
    quiet = spec.quiet_hours
    if quiet is None:
        return None
    start, end = clock_time(quiet.start), clock_time(quiet.end)
    return per_zone(
        zones, lambda name: after_quiet_hours(now, zone(name, spec.timezone), start, end)
    )
