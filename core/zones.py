"""IANA time zone names: the one test of whether a name is a zone, for every place that
reads one (subscribers' zones, schedules, CRM settings, the wizard)."""

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_or_none(name: str | None) -> ZoneInfo | None:
    """The zone `name` says; None when it is missing or no IANA zone. A region such as
    "Europe" names a folder of zones, which Python answers with an OSError, not a
    ZoneInfoNotFoundError."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None
