"""One test of whether a name is a time zone, for every place that reads one."""

import pytest

from bot.admin.draft import DraftError, When, parse_schedule
from broadcasts.local_time import zone
from core.zones import zone_or_none
from crm_sync.mapping import check_timezone
from tests.broadcasts.audience import NOW


@pytest.mark.parametrize(
    "name",
    [
        "Europe", "America/", "Europe/../UTC", "Nowhere/City", "", None,
        "localtime", "Factory", "posix/Europe/Madrid", "right/UTC", "posixrules",
    ],
)  # fmt: skip
def test_a_name_that_is_no_zone_is_none(name: str | None) -> None:
    """A region such as "Europe" is a folder of zones: Python raises an OSError for it,
    which every reader of a zone once let through as a crash. The zone database's files
    that are no place's zone (this machine's own, an unset machine's, the copies whose
    clocks count leap seconds) are no zone either."""
    assert zone_or_none(name) is None
    assert zone(name, "UTC") == zone_or_none("UTC")


def test_each_reader_of_a_zone_refuses_a_region_in_words() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Europe'"):
        check_timezone("Europe")
    with pytest.raises(DraftError, match="Unknown timezone 'Europe'"):
        parse_schedule(When.AT, "2026-11-03 10:00 Europe", now=NOW)
    assert zone_or_none("Europe/Madrid") is not None
