"""Cron lines as people write them, for APScheduler.

A campaign's `cron` is a standard five-field crontab line, where the day of the week
counts from Sunday: 0 (or 7) is Sunday, 1 Monday ... 6 Saturday. APScheduler's
`CronTrigger.from_crontab` reads that field with its own numbering, 0 = Monday, so
"0 10 * * 1" would fire on Tuesdays. `trigger` turns the field into day names first,
which both read alike. A line restricting both the day of the month and the weekday
means "either" to crontab and "both" to APScheduler: `check` refuses it when a campaign is
saved (a campaign stored before that check still runs, as APScheduler reads it).

The times are the zone's wall-clock times, kept across daylight saving changes as crontab
keeps them (`WallClockCron`): every day that has the time has its run, once.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
FULL_DAY_NAMES = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
CRON_LENGTH = 64  # characters a campaign's stored line holds
# How far back a time the clocks skipped may lie (no zone moves its clocks by more).
_LONGEST_JUMP = timedelta(hours=3)
_TICK = timedelta(microseconds=1)


class WallClockCron(BaseTrigger):  # type: ignore[misc]  # APScheduler is untyped
    """A cron line's times on a zone's wall clock, through daylight saving changes: a time
    the clocks show twice (the night they go back) fires once, the first time; a time they
    skip (the night they go forward) fires as far past the jump as it lay into the gap
    (02:30 at 03:30). APScheduler's CronTrigger, counting in the zone, fires a time shown
    twice twice, and skips a whole day whose first minute the clocks skip (midnight in
    Santiago, Havana, Beirut or Cairo on their change days)."""

    __slots__ = ("_wall", "_zone")

    def __init__(self, wall: CronTrigger, zone: ZoneInfo) -> None:
        self._wall = wall  # the line on a clock that never changes (UTC's), read as the zone's
        self._zone = zone

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """The first time at or after `now`, or after `previous_fire_time` when that is
        given (even if earlier than `now`: the scheduler catches up), as APScheduler's own
        triggers answer."""
        start = now.astimezone(UTC)  # compared in UTC: in the zone a repeated hour reads alike
        if previous_fire_time is not None:
            previous = previous_fire_time.astimezone(UTC)
            start = min(start, previous + _TICK)
            if start == previous:
                start += _TICK
        # A time skipped by a jump just before `start` fires after it: look that far back.
        jump = self._offset(start) - self._offset(start - _LONGEST_JUMP)
        wall = start.astimezone(self._zone).replace(tzinfo=UTC) - max(jump, timedelta(0))
        candidate: datetime | None = self._wall.get_next_fire_time(None, wall)
        while candidate is not None:
            # A repeated time reads as the first; a skipped one by the offset before the jump.
            moment = candidate.replace(tzinfo=self._zone).astimezone(UTC)
            if moment >= start:
                return moment.astimezone(self._zone)  # as the zone's clocks show it
            candidate = self._wall.get_next_fire_time(None, candidate + _TICK)
        return None

    def _offset(self, moment: datetime) -> timedelta:
        return moment.astimezone(self._zone).utcoffset() or timedelta(0)


def check(line: str, *, timezone: str) -> WallClockCron:
    """`trigger`, refusing also a line that gives both a day and a weekday: a new
    campaign's line must mean what it means to crontab."""
    _, _, day, _, weekday = _fields(line)
    if not day.startswith("*") and not weekday.startswith("*"):
        raise ValueError(
            f"it gives both a day ({day}) and a weekday ({weekday}), and crontab fires on "
            "either: write one of them as *, and a second campaign for the other"
        )
    return trigger(line, timezone=timezone)


def trigger(line: str, *, timezone: str) -> WallClockCron:
    """The trigger for a crontab line (minute hour day month weekday) in `timezone`;
    ValueError naming what is wrong."""
    minute, hour, day, month, weekday = _fields(line)
    wall = CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=weekdays(weekday), timezone=UTC
    )
    return WallClockCron(wall, ZoneInfo(timezone))


def _fields(line: str) -> list[str]:
    if len(line) > CRON_LENGTH:
        raise ValueError(f"a cron line holds at most {CRON_LENGTH} characters, not {len(line)}")
    if not line.isascii():
        raise ValueError("a cron line is written in ASCII: digits 0-9, names, and * , - /")
    fields = line.split()
    if len(fields) != 5:
        raise ValueError(
            f"a cron line has 5 fields (minute hour day month weekday), not {len(fields)}"
        )
    return fields


def weekdays(field: str) -> str:
    """A crontab weekday field (numbers from Sunday = 0 or 7, names, lists, ranges and
    steps) as the day names it stands for, e.g. "1-5" -> "mon,tue,wed,thu,fri"."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.split(","):
        spec, slash, step = part.partition("/")
        if slash and not step.isdigit():
            raise ValueError(f"weekday {part!r}: the step must be a number")
        stride = int(step) if slash else 1
        if stride < 1:
            raise ValueError(f"weekday {part!r}: the step must be at least 1")
        if spec == "*":
            first, last = 0, 6
        elif "-" in spec:
            start, _, end = spec.partition("-")
            first, last = _day(start), _day(end)
            if last < first:
                raise ValueError(f"weekday {part!r}: the range runs backwards")
        else:
            first = _day(spec)
            last = 6 if slash else first
        days.update(day % 7 for day in range(first, last + 1, stride))
    return ",".join(DAY_NAMES[day] for day in sorted(days))


def _day(token: str) -> int:
    name = token.lower()
    for names in (DAY_NAMES, FULL_DAY_NAMES):
        if name in names:
            return names.index(name)
    if token.isdigit() and 0 <= int(token) <= 7:  # ASCII digits: the line is ASCII
        return int(token)
    raise ValueError(f"weekday {token!r}: use 0-7 (0 and 7 are Sunday) or mon..sun")
