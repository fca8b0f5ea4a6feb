"""IANA time zone names: the one test of whether a name is a zone, for every place that
reads one (subscribers' zones, schedules, CRM settings, the wizard)."""

from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# Files of the zone database that are no place's zone: this machine's own zone (it differs
# from machine to machine), and the zone of a machine not yet set up ("-00").
_NOT_PLACES = frozenset({"localtime", "Factory"})


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone `name` says; None when it is missing or no IANA zone. The zone database's
    other files are refused too: `posix/` and `right/` copies (`right/` counts leap
    seconds, so its clock runs 27 s behind) and the entries of `_NOT_PLACES`. A region
    such as "Europe" names a folder of zones, which Python answers with an OSError, not a
    ZoneInfoNotFoundError."""
    if not name or name not in _zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


@cache
def _zone_names() -> frozenset[str]:
    """The zones of the machine's zone database (and the tzdata package), read once."""
    return frozenset(available_timezones() - _NOT_PLACES)
