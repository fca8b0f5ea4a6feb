"""Cron lines count weekdays as crontab does (Sunday 0 or 7, Monday 1), not as
APScheduler's own field does (Monday 0)."""

from datetime import UTC, datetime

import pytest

from broadcasts.crontab import trigger, weekdays

THURSDAY = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def next_days(line: str, count: int = 7) -> list[str]:
    fire, found, moment = trigger(line, timezone="UTC"), [], THURSDAY
    for _ in range(count):
        fired = fire.get_next_fire_time(None, moment)
        assert fired is not None
        found.append(fired.strftime("%a"))
        moment = fired.replace(minute=fired.minute + 1)
    return found


@pytest.mark.parametrize(
    ("line", "days"),
    [
        ("0 10 * * 1", ["Mon"]),
        ("0 10 * * 0", ["Sun"]),
        ("0 10 * * 7", ["Sun"]),
        ("0 10 * * 1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("0 10 * * 5-7", ["Fri", "Sat", "Sun"]),
        ("0 10 * * mon,wed", ["Mon", "Wed"]),
        ("0 10 * * */2", ["Sun", "Tue", "Thu", "Sat"]),
        ("0 10 * * 1/3", ["Mon", "Thu"]),
        ("0 10 * * *", ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    ],
)
def test_weekdays_count_from_sunday_as_in_crontab(line: str, days: list[str]) -> None:
    assert sorted(set(next_days(line, 14))) == sorted(days)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("0 10 * *", "5 fields"),
        ("0 10 * * 8", "use 0-7"),
        ("0 10 * * funday", "use 0-7"),
        ("0 10 * * 5-1", "backwards"),
        ("0 10 * * */0", "at least 1"),
        ("0 10 * * */x", "must be a number"),
        ("61 10 * * 1", "higher than the maximum"),
    ],
)
def test_a_wrong_line_says_what_is_wrong(line: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        trigger(line, timezone="UTC")


def test_weekdays_are_named() -> None:
    assert weekdays("1-5") == "mon,tue,wed,thu,fri"
    assert weekdays("0,7") == "sun"
