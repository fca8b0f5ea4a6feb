"""Campaign files built to break the parser or the scheduler are refused when read (or
saved), each with one line saying where and what: never a traceback, never at send time."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.cloning import CampaignNameError, clone_campaign
from broadcasts.schedule_spec import ScheduleMissedError
from broadcasts.spec import CampaignFileError, parse_campaign
from tests.broadcasts.audience import NOW, campaign_from

MESSAGE = "name: c\ndefault: {text: hi}\n"


def mistake(text: str) -> str:
    with pytest.raises(CampaignFileError) as error:
        parse_campaign(text, source="c.yaml")
    return str(error.value)


def test_nesting_deeper_than_any_campaign_is_refused_on_its_line() -> None:
    text = f"{MESSAGE}foo: {'[' * 1000}{']' * 1000}\n"
    assert (
        mistake(text)
        == "c.yaml: not valid YAML at line 3, column 37: nested more than 32 levels deep"
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "name: a\nname: b\ndefault: {text: hi}\n",
            "line 2, column 1: 'name' is given twice (first on line 1)",
        ),
        (
            "name: c\naudience:\n  - {segment: vip, text: hi}\ndefault: {text: hi}\naudience: []\n",
            "line 5, column 1: 'audience' is given twice (first on line 2)",
        ),
        (
            "name: c\ndefault: {text: hi, text: ho}\n",
            "line 2, column 21: 'text' is given twice (first on line 2)",
        ),
    ],
)
def test_a_key_given_twice_is_refused_not_replaced(text: str, said: str) -> None:
    assert mistake(text) == f"c.yaml: not valid YAML at {said}"


def test_keys_merged_from_an_anchor_may_be_replaced() -> None:
    spec = parse_campaign(
        "name: c\nquiet_hours: &night {start: '22:00', end: '08:00'}\n"
        "default: {text: hi}\nfrequency_cap: {<<: {messages: 2, hours: 12}, hours: 6}\n"
    )
    assert (spec.frequency_cap.messages, spec.frequency_cap.hours) == (2, 6)


@pytest.mark.parametrize(
    ("schedule", "said"),
    [
        (
            '{at: "9999-12-31T23:59:59", timezone: America/New_York}',
            "at 9999-12-31 23:59:59 in America/New_York",
        ),
        (
            '{at: "0001-01-01T00:00:00", timezone: Asia/Tokyo}',
            "at 0001-01-01 00:00:00 in Asia/Tokyo",
        ),
        ('{local: "09:00", day: 9999-12-31}', "day 9999-12-31 in UTC"),
    ],
)
def test_a_moment_at_the_ends_of_the_calendar_is_refused(schedule: str, said: str) -> None:
    assert mistake(f"{MESSAGE}schedule: {schedule}\n") == (
        f"c.yaml: line 3, schedule: {said} is out of range: "
        "give a day from 0001-01-03 to 9999-12-29"
    )


async def test_the_last_day_allowed_saves(session: AsyncSession) -> None:
    campaign = await campaign_from(
        session, f'{MESSAGE}schedule: {{at: "9999-12-29T23:59:59", timezone: Etc/GMT+12}}\n'
    )
    assert campaign.run_at == datetime(9999, 12, 30, 11, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 9 31 4,6,9,11 *"])
def test_a_cron_line_that_never_fires_is_refused(cron: str) -> None:
    assert mistake(f'{MESSAGE}schedule: {{cron: "{cron}"}}\n') == (
        f"c.yaml: line 3, schedule: cron '{cron}' never fires: its months have no such day"
    )


def test_a_region_is_no_timezone() -> None:
    """ "Europe" is a folder of zones: refused in words, not a traceback."""
    assert mistake(f'{MESSAGE}schedule: {{cron: "0 9 * * *", timezone: Europe}}\n') == (
        "c.yaml: line 3, schedule.timezone: unknown timezone 'Europe' "
        "(use an IANA name, e.g. Europe/Madrid)"
    )


def test_a_cron_line_firing_only_in_leap_years_is_kept() -> None:
    assert parse_campaign(f'{MESSAGE}schedule: {{cron: "0 0 29 2 *"}}\n').schedule is not None


async def test_a_moment_missed_beyond_the_grace_period_is_refused_at_save(
    session: AsyncSession,
) -> None:
    missed = f'{MESSAGE}schedule: {{at: "2026-11-02T11:59:00", timezone: Europe/Madrid}}\n'
    with pytest.raises(ScheduleMissedError) as error:
        await campaign_from(session, missed, now=NOW)  # 61 minutes after 10:59 UTC
    assert str(error.value) == (
        "schedule: at 2026-11-02 11:59+01:00 has passed, by more than grace_minutes (60): "
        "give a later time"
    )
    late = await campaign_from(session, missed, now=NOW - timedelta(minutes=1))
    assert late.status.value == "scheduled"  # late, within the grace: the scheduler fires it


@pytest.mark.parametrize(
    "when", ['{local: "09:00", day: 2026-11-02}', "{best_hour: true, day: 2026-11-02}"]
)
async def test_a_local_day_already_begun_beyond_the_grace_period_is_refused_at_save(
    session: AsyncSession, when: str
) -> None:
    """A local-time run starts where the day comes first (UTC+14): once that start is
    missed, the scheduler would never send it, so it is not saved."""
    with pytest.raises(ScheduleMissedError, match="day 2026-11-02 has passed where it begins"):
        await campaign_from(session, f"{MESSAGE}schedule: {when}\n", now=NOW)
    tomorrow = await campaign_from(
        session, f"{MESSAGE}schedule: {when.replace('11-02', '11-04')}\n", now=NOW
    )
    assert tomorrow.status.value == "scheduled"


async def test_a_campaign_name_of_digits_alone_is_refused(session: AsyncSession) -> None:
    """`segbot campaign show 1` means the campaign of id 1: a campaign named "1" could not
    be named at all."""
    assert mistake('name: "1"\ndefault: {text: hi}\n') == (
        "c.yaml: line 1, name: a campaign's name is not digits alone "
        "(a number names the campaign of that id)"
    )
    await campaign_from(session, MESSAGE)
    with pytest.raises(CampaignNameError, match="not digits alone"):
        await clone_campaign(session, ref="c", name="42", now=NOW)
