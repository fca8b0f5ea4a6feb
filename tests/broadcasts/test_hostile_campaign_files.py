"""Campaign files that YAML or a clock reads otherwise than their writer meant: a moment
the zone's clocks skip or show twice, a number where a moment goes, a boolean where a
count goes, quiet hours that begin where they end. Each is refused when read, with the
line and the field, never guessed at and never left to the scheduler."""

from datetime import UTC, datetime

import pytest

from broadcasts.models import Campaign
from broadcasts.scheduler import cron_trigger
from broadcasts.spec import CampaignFileError, parse_campaign

MESSAGE = "name: c\ndefault: {text: hi}\n"


def mistake(text: str) -> str:
    with pytest.raises(CampaignFileError) as error:
        parse_campaign(text, source="c.yaml")
    return str(error.value)


def test_a_moment_the_clocks_skip_is_refused() -> None:
    """On 2027-03-28 Madrid's clocks go from 02:00 to 03:00: 02:30 never happens there."""
    schedule = '{at: "2027-03-28T02:30:00", timezone: Europe/Madrid}'
    assert mistake(f"{MESSAGE}schedule: {schedule}\n") == (
        "c.yaml: line 3, schedule: at 2027-03-28 02:30:00 does not exist in Europe/Madrid "
        "(its clocks skip it): give another time"
    )


def test_a_moment_the_clocks_show_twice_is_refused() -> None:
    """On 2027-10-31 Madrid's clocks go back from 03:00 to 02:00: 02:30 happens twice."""
    schedule = '{at: "2027-10-31T02:30:00", timezone: Europe/Madrid}'
    assert mistake(f"{MESSAGE}schedule: {schedule}\n") == (
        "c.yaml: line 3, schedule: at 2027-10-31 02:30:00 happens twice in Europe/Madrid "
        "(its clocks go back): give the offset, e.g. 2027-10-31T02:30:00+02:00"
    )


@pytest.mark.parametrize(
    "at", ['"2027-10-31T02:30:00+01:00"', '"2027-10-31T02:30:00+02:00"', '"2027-10-31T03:30:00"']
)
def test_a_moment_with_its_offset_or_after_the_change_is_kept(at: str) -> None:
    spec = parse_campaign(f"{MESSAGE}schedule: {{at: {at}, timezone: Europe/Madrid}}\n")
    assert spec.schedule is not None


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ("{at: 1700000000}", "at"),
        ("{at: 99999999999999}", "at"),
        ("{at: 2027.5}", "at"),
        ('{local: "09:00", day: 20271120}', "day"),
    ],
)
def test_a_number_is_no_moment(schedule: str, field: str) -> None:
    """YAML reads 1700000000 as a number, which pydantic would take for Unix time (and
    99999999999999 for milliseconds: the year 5138)."""
    assert mistake(f"{MESSAGE}schedule: {schedule}\n") == (
        f"c.yaml: line 3, schedule.{field}: a number is no {field}: "
        + (
            "give a date and time, e.g. 2026-11-20T10:00:00"
            if field == "at"
            else "give a date, e.g. 2026-11-20"
        )
    )


@pytest.mark.parametrize(
    ("line", "place"),
    [
        ("holdout: true", "holdout"),
        ("holdout: '10'", "holdout"),
        ("frequency_cap: {messages: true}", "frequency_cap.messages"),
        ("frequency_cap: {hours: yes}", "frequency_cap.hours"),
        ("paid_broadcast: {stars_budget: true}", "paid_broadcast.stars_budget"),
        ("schedule: {now: true, grace_minutes: on}", "schedule.grace_minutes"),
    ],
)
def test_a_boolean_or_a_text_is_no_count(line: str, place: str) -> None:
    """YAML reads yes, on and true as booleans, which pydantic would take for 1."""
    assert mistake(f"{MESSAGE}{line}\n") == (
        f"c.yaml: line 3, {place}: Input should be a valid integer"
    )


def test_quiet_hours_that_begin_where_they_end_are_refused() -> None:
    """Quiet all day (nothing would ever be sent) or never (why give them)? Neither is
    what the planner could guess."""
    assert mistake(f"{MESSAGE}quiet_hours: {{start: '09:00', end: '09:00'}}\n") == (
        "c.yaml: line 3, quiet_hours: start and end are both 09:00: quiet hours end at "
        "another time than they start (leave them out for none)"
    )


def test_a_key_that_is_not_text_is_named_by_its_line() -> None:
    assert mistake(f"{MESSAGE}1: 2\n") == "c.yaml: line 3, 1: Keys should be strings"


def test_a_cron_line_giving_both_a_day_and_a_weekday_is_refused() -> None:
    """Crontab fires "0 10 13 * 5" on every 13th and every Friday; APScheduler would fire
    it only on a Friday the 13th. Refused rather than sent on other days than written."""
    assert mistake(f'{MESSAGE}schedule: {{cron: "0 10 13 * 5"}}\n') == (
        "c.yaml: line 3, schedule: cron '0 10 13 * 5': it gives both a day (13) and a "
        "weekday (5), and crontab fires on either: write one of them as *, and a second "
        "campaign for the other"
    )


def test_a_campaign_stored_before_that_check_still_runs() -> None:
    """The check is the saving's: the scheduler still reads a line stored earlier (as it
    always read it), rather than failing every campaign's schedule over one of them."""
    stored = Campaign(name="old", cron="0 10 13 * 5", schedule_timezone="UTC")
    fires = cron_trigger(stored).get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC))
    assert fires == datetime(2026, 2, 13, 10, tzinfo=UTC)  # a Friday the 13th


@pytest.mark.parametrize("cron", ["0 10 13 * *", "0 10 * * 5", "0 10 */2 * 5", "0 10 13 * */2"])
def test_a_cron_line_with_a_day_or_a_weekday_is_kept(cron: str) -> None:
    assert parse_campaign(f'{MESSAGE}schedule: {{cron: "{cron}"}}\n').schedule is not None


@pytest.mark.parametrize(
    ("local", "quiet"),
    [("23:00", "{start: '22:00', end: '08:00'}"), ("12:30", "{start: '12:00', end: '13:00'}")],
)
def test_a_local_time_inside_the_quiet_hours_is_refused(local: str, quiet: str) -> None:
    """Every subscriber's clock reads the local time inside the quiet hours: no message
    would go out at the time written."""
    text = f"{MESSAGE}quiet_hours: {quiet}\nschedule: {{local: '{local}', day: 2027-01-05}}\n"
    start, end = quiet[9:14], quiet[-7:-2]
    assert mistake(text) == (
        f"c.yaml: line 4, schedule: local {local} is inside the quiet hours ({start} to {end}): "
        f"every message would wait until {end}; give a time outside them"
    )


@pytest.mark.parametrize("local", ["08:00", "21:59"])
def test_a_local_time_outside_the_quiet_hours_is_kept(local: str) -> None:
    text = (
        f"{MESSAGE}quiet_hours: {{start: '22:00', end: '08:00'}}\n"
        f"schedule: {{local: '{local}', day: 2027-01-05}}\n"
    )
    assert parse_campaign(text).schedule is not None


def test_a_boolean_is_no_split() -> None:
    """YAML reads `split: true` as a boolean, which would have been a 1 % variant."""
    variants = "audience: [{segment: s, variants: [{name: a, split: true, text: A}, " + (
        "{name: b, split: 99, text: B}]}]\n"
    )
    assert "Input should be a valid integer" in mistake(f"name: c\n{variants}")
