"""When a campaign goes out, as its file says (`schedule:`), and the names of timezones."""

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from broadcasts import crontab
from broadcasts.local_time import local_run_start
from core.errors import SegbotError
from core.zones import zone_or_none

ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# A schedule's moment keeps a day inside what datetime holds (years 1 to 9999, in UTC), so
# the times worked out from it (a day earlier at UTC+14, a grace period later) exist.
_EARLIEST = datetime.min.replace(tzinfo=UTC) + timedelta(days=1)
_LATEST = datetime.max.replace(tzinfo=UTC) - timedelta(days=1)
# Where a cron line is looked at for a first occurrence: a five-field line repeats with the
# 400-year Gregorian calendar, so one that fires at all fires after any moment.
_CRON_FROM = datetime(2000, 1, 1, tzinfo=UTC)
# How a schedule's moment and day are written, for a file that gives a number instead.
_WRITTEN = {"at": "a date and time, e.g. 2026-11-20T10:00:00", "day": "a date, e.g. 2026-11-20"}
# A number written as text ("1900000000", "1.9e9"), which pydantic would read as Unix time.
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
# A running scheduler starts a run up to a minute after its time (it sees a campaign saved
# by another process at its next sync, every minute; a job fires some milliseconds late):
# a shorter grace would mark on-time runs missed, so none is shorter.
SHORTEST_GRACE = timedelta(minutes=2)


class ScheduleMissedError(SegbotError):
    """The schedule's moment is already missed: the scheduler would never send it."""


def known_zone(name: str) -> str:
    """`name` if it is an IANA timezone; ValueError saying what to give otherwise."""
    if zone_or_none(name) is None:
        raise ValueError(f"unknown timezone {name!r} (use an IANA name, e.g. Europe/Madrid)")
    return name


class ScheduleSpec(BaseModel):
    """Exactly one of: now (as soon as the scheduler sees it), at (a moment), cron (every
    occurrence in `timezone`), local (a time of day on `day`, in each subscriber's own
    timezone), best_hour (on `day`, at the hour each target's audience engaged most over
    the last days, in each subscriber's own timezone). A file without `schedule` is sent
    by hand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    now: bool = False
    at: datetime | None = None
    cron: str | None = None
    local: ClockTime | None = None
    best_hour: bool = False
    day: date | None = None
    timezone: str = "UTC"
    grace_minutes: Annotated[StrictInt, Field(ge=0, le=24 * 60)] = 60

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        given = [self.now, self.at is not None, self.cron is not None, self.local is not None]
        if sum([*given, self.best_hour]) != 1:
            raise ValueError("give exactly one of now, at, cron, local, best_hour")
        if self.local is not None and self.day is None:
            raise ValueError("local needs the day: day: YYYY-MM-DD")
        if self.best_hour and self.day is None:
            raise ValueError("best_hour needs the day: day: YYYY-MM-DD")
        if self.day is not None and self.local is None and not self.best_hour:
            raise ValueError("day goes with local or best_hour")
        if self.cron is not None:
            try:
                trigger = crontab.check(self.cron, timezone=self.timezone)
            except ValueError as error:
                raise ValueError(f"cron {self.cron!r}: {error}") from None
            if trigger.get_next_fire_time(None, _CRON_FROM) is None:
                raise ValueError(f"cron {self.cron!r} never fires: its months have no such day")
        moment = self.moment()
        if moment is not None and not _holdable(moment):
            written = f"at {self.at}" if self.at is not None else f"day {self.day}"
            raise ValueError(
                f"{written} in {self.timezone} is out of range: "
                "give a day from 0001-01-03 to 9999-12-29"
            )
        if self.at is not None and self.at.tzinfo is None:
            _one_moment(self.at, self.timezone)
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return known_zone(value)

    @field_validator("at", "day", mode="before")
    @classmethod
    def _not_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        """YAML reads `at: 1700000000` as a number, which pydantic would take for Unix
        time (and a larger one for milliseconds), as it would the same in quotes: nobody
        writes a moment so."""
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            name = info.field_name or "at"
            raise ValueError(f"a number is no {name}: give {_WRITTEN[name]}")
        return value

    def moment(self) -> datetime | None:
        """AT: the moment (a time without zone is in `timezone`). LOCAL, BEST_HOUR: midnight
        of the day in `timezone`, the day each subscriber's own local time falls on."""
        zone = ZoneInfo(self.timezone)
        if self.at is not None:
            return self.at if self.at.tzinfo else self.at.replace(tzinfo=zone)
        if self.day is not None:
            return datetime.combine(self.day, time(), tzinfo=zone)
        return None

    def first_send(self) -> datetime | None:
        """When the scheduler starts the run: AT's moment; LOCAL's time of day (BEST_HOUR:
        midnight) on `day` where that day comes first (UTC+14), as the run starts there.
        None for now, cron and by hand."""
        if self.at is not None:
            return self.moment()
        return None if self.day is None else local_run_start(self.day, self.local)

    def refuse_missed(self, now: datetime) -> None:
        """ScheduleMissedError if the run's start (`first_send`) is missed at `now`, as
        the scheduler decides (`missed`): a campaign saved with it would never be sent."""
        start = self.first_send()
        if start is None or not missed(start, now, grace_minutes=self.grace_minutes):
            return
        grace = f"by more than grace_minutes ({self.grace_minutes})"
        if self.at is not None:
            raise ScheduleMissedError(
                f"schedule: at {start.isoformat(' ', 'minutes')} has passed, {grace}: "
                "give a later time"
            )
        raise ScheduleMissedError(
            f"schedule: day {self.day} has passed where it begins first (UTC+14, "
            f"{start.isoformat(' ', 'minutes')}), {grace}: give a later day"
        )


def _one_moment(written: datetime, name: str) -> None:
    """ValueError if the wall-clock time `written` does not exist in zone `name` (its
    clocks skip it) or exists twice (they go back): which instant was meant is a guess."""
    zone = ZoneInfo(name)
    first, second = written.replace(tzinfo=zone), written.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != written:
        raise ValueError(
            f"at {written} does not exist in {name} (its clocks skip it): give another time"
        )
    if first.utcoffset() != second.utcoffset():
        raise ValueError(
            f"at {written} happens twice in {name} (its clocks go back): give the offset, "
            f"e.g. {first.isoformat()}"
        )


def _holdable(moment: datetime) -> bool:
    try:
        return _EARLIEST <= moment.astimezone(UTC) <= _LATEST
    except OverflowError:
        return False


def missed(occurrence: datetime, now: datetime, *, grace_minutes: int) -> bool:
    """Whether a run due at `occurrence` is missed at `now`: later than its grace period
    (`SHORTEST_GRACE` at least)."""
    return now - occurrence > grace(grace_minutes)


def grace(minutes: int) -> timedelta:
    """How late a run may start: `minutes`, and never less than `SHORTEST_GRACE`."""
    return max(timedelta(minutes=minutes), SHORTEST_GRACE)
