"""When, in UTC, a subscriber's local clock allows a message: quiet hours and local-time
schedules, computed once per timezone (there are few) rather than once per subscriber."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.zones import zone_or_none

# The first place each new day reaches: a local-time run starts when its time comes there.
EARLIEST_ZONE = ZoneInfo("Pacific/Kiritimati")


def clock_time(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def zone(name: str | None, fallback: str) -> ZoneInfo:
    """The named zone; `fallback` when the name is missing or not a known IANA zone."""
    return zone_or_none(name) or ZoneInfo(fallback)


def is_quiet(clock: time, start: time, end: time) -> bool:
    """Whether the local `clock` falls in quiet hours from `start` to `end` (which may
    span midnight)."""
    return start <= clock < end if start <= end else clock >= start or clock < end


def after_quiet_hours(moment: datetime, tz: ZoneInfo, start: time, end: time) -> datetime:
    """`moment`, or the end of the quiet hours it falls in (local `start` to `end`, which
    may span midnight)."""
    local = moment.astimezone(tz)
    now = local.time()
    if not is_quiet(now, start, end):
        return moment
    day = local.date() if now < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(moment.tzinfo)


def at_local_time(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The moment, in UTC, it is `at` o'clock in `tz` on `day`."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def local_run_start(day: date, local: str | None) -> datetime:
    """When a run at each subscriber's own `local` time ("HH:MM"; None: midnight, as a
    best-hour run) on `day` starts: at that time where the day comes first."""
    return at_local_time(day, clock_time(local) if local else time(), EARLIEST_ZONE)
