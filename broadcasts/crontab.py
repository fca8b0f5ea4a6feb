"""Cron lines as people write them, for APScheduler.

A campaign's `cron` is a standard five-field crontab line, where the day of the week
counts from Sunday: 0 (or 7) is Sunday, 1 Monday ... 6 Saturday. APScheduler's
`CronTrigger.from_crontab` reads that field with its own numbering, 0 = Monday, so
"0 10 * * 1" would fire on Tuesdays. `trigger` turns the field into day names first,
which both read alike. A line restricting both the day of the month and the weekday
means "either" to crontab and "both" to APScheduler: `check` refuses it when a campaign is
saved (a campaign stored before that check still runs, as APScheduler reads it).
"""

from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def check(line: str, *, timezone: str) -> CronTrigger:
    """`trigger`, refusing also a line that gives both a day and a weekday: a new
    campaign's line must mean what it means to crontab."""
    _, _, day, _, weekday = _fields(line)
    if not day.startswith("*") and not weekday.startswith("*"):
        raise ValueError(
            f"it gives both a day ({day}) and a weekday ({weekday}), and crontab fires on "
            "either: write one of them as *, and a second campaign for the other"
        )
    return trigger(line, timezone=timezone)


def trigger(line: str, *, timezone: str) -> CronTrigger:
    """The trigger for a crontab line (minute hour day month weekday) in `timezone`;
    ValueError naming what is wrong."""
    minute, hour, day, month, weekday = _fields(line)
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=weekdays(weekday),
        timezone=ZoneInfo(timezone),
    )


def _fields(line: str) -> list[str]:
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
    name = token.lower()[:3]
    if name in DAY_NAMES and token.isalpha():
        return DAY_NAMES.index(name)
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token)
    raise ValueError(f"weekday {token!r}: use 0-7 (0 and 7 are Sunday) or mon..sun")
