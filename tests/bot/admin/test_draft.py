"""The wizard's draft without a chat: schedules and buttons as typed, switching approach,
and the campaign it becomes."""

from datetime import UTC, date, datetime

import pytest

from bot.admin.draft import (
    Approach,
    Draft,
    DraftError,
    DraftMessage,
    When,
    check_name,
    parse_buttons,
    parse_schedule,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def test_schedules_as_typed() -> None:
    at = parse_schedule(When.AT, "2026-11-03 10:00 Europe/Madrid", now=NOW)
    assert at.at == datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    assert at.timezone == "Europe/Madrid"
    cron = parse_schedule(When.RECURRING, "0 10 * * 1", now=NOW)
    assert (cron.cron, cron.timezone) == ("0 10 * * 1", "UTC")
    local = parse_schedule(When.LOCAL, "2026-11-05 09:30", now=NOW)
    assert (local.local, local.day) == ("09:30", date(2026, 11, 5))
    best = parse_schedule(When.BEST_HOUR, "2026-11-05", now=NOW)
    assert best.best_hour
    assert parse_schedule(When.NOW, "", now=NOW).now


@pytest.mark.parametrize(
    ("when", "text", "says"),
    [
        (When.AT, "2026-11-01 10:00", "has passed"),
        (When.AT, "tomorrow", "That is not it"),
        (When.AT, "tomorrow at ten", "'tomorrow' is not a day"),
        (When.AT, "2026-13-01 10:00", "is not a day"),
        (When.AT, "2026-11-03 25:00", "is not a time"),
        (When.AT, "2026-11-03 10:00 Mars/Olympus", "Unknown timezone"),
        (When.RECURRING, "0 25 * * 1", "cron"),
        (When.LOCAL, "2026-11-01 10:00", "has passed"),
        (When.LOCAL, "2026-11-02 23:00", "has begun where the day comes first"),
        (When.BEST_HOUR, "2026-11-02", "has begun where the day comes first"),
        (When.BEST_HOUR, "soon", "is not a day"),
    ],
)
def test_bad_schedules_say_what_is_expected(when: When, text: str, says: str) -> None:
    with pytest.raises(DraftError, match=says):
        parse_schedule(when, text, now=NOW)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        # Past the last day a moment can have once in UTC: was an OverflowError (a 500 in
        # the console, an apology in the chat).
        ("9999-12-31 23:59 Etc/GMT+12", "is out of range"),
        # Madrid's clocks skip 02:00-03:00 that night, and show 02:00-03:00 twice in October.
        ("2027-03-28 02:30 Europe/Madrid", "does not exist in Europe/Madrid"),
        ("2027-10-31 02:30 Europe/Madrid", "happens twice in Europe/Madrid"),
    ],
)
def test_a_moment_no_clock_can_show_once_is_refused_as_a_file_s_is(text: str, says: str) -> None:
    with pytest.raises(DraftError, match=says):
        parse_schedule(When.AT, text, now=NOW)


def test_buttons_one_per_line() -> None:
    buttons = parse_buttons("Shop | https://shop.example\n\nNews — https://news.example/a")
    assert [(b.text, b.url) for b in buttons] == [
        ("Shop", "https://shop.example"),
        ("News", "https://news.example/a"),
    ]
    with pytest.raises(DraftError, match="Line 2 is not"):
        parse_buttons("Shop | https://shop.example\nno link here")
    with pytest.raises(DraftError, match="Line 1"):
        parse_buttons("Shop | ftp://shop.example")


def test_buttons_up_to_what_telegram_takes_with_the_unsubscribe_one() -> None:
    lines = [f"Item {n} | https://shop.example/{n}" for n in range(100)]
    assert len(parse_buttons("\n".join(lines[:99]))) == 99
    with pytest.raises(DraftError, match=r"^100 buttons: a message has at most 99 of your own"):
        parse_buttons("\n".join(lines))


def test_names() -> None:
    assert check_name(" spring_sale-2 ") == "spring_sale-2"
    with pytest.raises(DraftError, match="no spaces"):
        check_name("spring sale")


def test_switching_approach_clears_the_other_choice() -> None:
    draft = Draft(name="x", segments=["spanish"], approach=Approach.SEGMENTS)
    draft.messages["spanish"] = DraftMessage(text="Hola")
    draft.choose(Approach.SEGMENTS)
    assert draft.segments == ["spanish"]
    draft.choose(Approach.QUERY)
    assert (draft.segments, draft.messages) == ([], {})
    draft.query = "lang = en"
    assert [t.label for t in draft.targets()] == ["query"]


def test_the_draft_becomes_a_campaign_once_complete() -> None:
    draft = Draft(name="autumn", approach=Approach.SEGMENTS, segments=["spanish", "russian"])
    with pytest.raises(DraftError, match="not complete"):
        draft.spec()
    draft.messages["spanish"] = DraftMessage(text="Hola")
    draft.messages["russian"] = DraftMessage(photo="FILE", caption="Привет")
    draft.schedule = parse_schedule(When.NOW, "", now=NOW)
    spec = draft.spec()
    assert [t.segment for t in spec.audience] == ["spanish", "russian"]
    assert spec.audience[1].variants[0].photo == "FILE"
    restored = Draft.model_validate(draft.model_dump(mode="json"))  # as the FSM storage keeps it
    assert restored.spec() == spec
