"""The journey report against the hand-counted scenario (tests/journeys/report_scenario.py):
per journey and per step, the lift in people, the CSV and the chart."""

import csv
import io
import struct

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from broadcasts.reports.significance import Method
from journeys.models import ExitReason, JourneyStatus
from journeys.reports import journey_csv, journey_png, journey_report
from journeys.reports.messages import StepMessages
from journeys.store import UnknownJourneyError
from tests.journeys.report_scenario import REPORTED_AT, T0, WELCOME, build, save

STEPS = ["hello", "pause", "clicked", "nudge", "thanks", "settle"]


async def test_the_journey_as_a_whole(session: AsyncSession) -> None:
    await build(session)
    report = await journey_report(session, name="welcome", now=REPORTED_AT)
    assert (report.journey, report.status, report.version) == ("welcome", JourneyStatus.LIVE, 1)
    assert report.goal == "purchased within 1w"
    assert report.trigger == "subscribed"
    entries = report.entries
    assert (entries.entered, entries.people, entries.holdout, entries.inside) == (11, 10, 4, 4)
    assert entries.converted == 1  # s1; s7 met the goal in the holdout
    assert entries.exited == {ExitReason.GOAL: 1, ExitReason.UNSUBSCRIBED: 1, ExitReason.BLOCKED: 1}
    assert report.messages == StepMessages(
        sent=6, unsent=1, read=3, clicked=1, replied=1, orders=1, revenue=100.0
    )
    assert report.currencies == ("EUR",)
    assert not report.window_open  # the last message went at +3 d, 7 days before


async def test_each_step(session: AsyncSession) -> None:
    await build(session)
    report = await journey_report(session, name="welcome", now=REPORTED_AT)
    assert [row.step for row in report.steps] == STEPS
    assert [row.action for row in report.steps] == [
        "send", "wait", "wait_for", "send", "send", "wait"
    ]  # fmt: skip
    by_step = {row.step: row for row in report.steps}
    places = {step: row.places for step, row in by_step.items()}
    assert {step: (p.reached, p.waiting, p.converted) for step, p in places.items()} == {
        "hello": (7, 2, 1),  # five logged, s6 and s9's second entry about to get it
        "pause": (5, 0, 1),  # three logged, s3 and s4 left there
        "clicked": (3, 1, 1),
        "nudge": (1, 0, 0),
        "thanks": (1, 0, 1),
        "settle": (2, 1, 1),
    }
    assert places["clicked"].outcomes == {"yes": 1, "no": 1}
    assert places["pause"].exited == {ExitReason.UNSUBSCRIBED: 1, ExitReason.BLOCKED: 1}
    assert places["settle"].exited == {ExitReason.GOAL: 1}
    assert by_step["hello"].messages == StepMessages(sent=4, unsent=1, read=3, clicked=1, replied=1)
    assert by_step["thanks"].messages == StepMessages(sent=1, orders=1, revenue=100.0)
    assert by_step["nudge"].messages == StepMessages(sent=1)
    assert by_step["pause"].messages == StepMessages()


async def test_lift_counts_people_and_uses_the_exact_test_on_small_counts(
    session: AsyncSession,
) -> None:
    await build(session)
    lift = (await journey_report(session, name="welcome", now=REPORTED_AT)).lift
    assert lift is not None
    # s9 was held out once and entered once: in the journey, not in the holdout.
    assert (lift.messaged, lift.messaged_converted) == (7, 1)
    assert (lift.holdout, lift.holdout_converted) == (3, 1)
    assert lift.absolute_lift == pytest.approx(1 / 7 - 1 / 3)
    assert lift.significance is not None
    assert lift.significance.test is Method.FISHER
    assert lift.significance.p_value == pytest.approx(1.0)  # 1/7 against 1/3: nothing to see
    assert lift.difference is not None
    assert lift.difference.low < 1 / 7 - 1 / 3 < lift.difference.high


async def test_a_step_only_an_older_version_has_is_listed_after_the_others(
    session: AsyncSession,
) -> None:
    await build(session)
    without_nudge = WELCOME.replace("    else: nudge\n", "    else: settle\n").replace(
        '  - id: nudge\n    send: {text: "Still there?"}\n    next: settle\n', ""
    )
    await save(session, without_nudge)
    report = await journey_report(session, name="welcome", now=REPORTED_AT)
    assert report.version == 2
    assert [(row.step, row.in_latest) for row in report.steps] == [
        *((step, True) for step in STEPS if step != "nudge"),
        ("nudge", False),
    ]


async def test_a_journey_nobody_entered(session: AsyncSession) -> None:
    await save(session, WELCOME.replace("holdout: 30\n", ""))
    report = await journey_report(session, name="welcome", now=T0)
    assert report.entries.entered == 0
    assert report.lift is None
    assert [row.places.reached for row in report.steps] == [0] * len(STEPS)
    assert report.messages == StepMessages()
    assert report.currencies == ()
    assert journey_png(report).startswith(b"\x89PNG")


async def test_an_unknown_journey_is_named(session: AsyncSession) -> None:
    with pytest.raises(UnknownJourneyError, match="no journey named 'nope'"):
        await journey_report(session, name="nope", now=T0)


async def test_the_csv_has_a_line_per_step_and_one_for_the_journey(session: AsyncSession) -> None:
    await build(session)
    report = await journey_report(session, name="welcome", now=REPORTED_AT)
    rows = list(csv.DictReader(io.StringIO(journey_csv(report))))
    assert [row["step"] for row in rows] == [*STEPS, ""]
    hello, _, clicked, *_, whole = rows
    assert (clicked["yes"], clicked["no"], clicked["skipped"]) == ("1", "1", "0")
    assert (hello["reached"], hello["sent"], hello["read"], hello["clicked"]) == (
        "7",
        "4",
        "3",
        "1",
    )
    assert hello["people_in_holdout"] == ""
    assert whole["action"] == "journey"
    assert (whole["reached"], whole["converted"], whole["revenue"]) == ("7", "1", "100.0")
    assert (whole["exited_goal"], whole["exited_unsubscribed"], whole["exited_blocked"]) == (
        "1", "1", "1"
    )  # fmt: skip
    assert (whole["people_in_journey"], whole["people_in_holdout"]) == ("7", "3")
    assert whole["test"] == "Fisher's exact test"


async def test_the_chart_is_a_png(session: AsyncSession) -> None:
    await build(session)
    report = await journey_report(session, name="welcome", now=REPORTED_AT)
    assert journey_png(report).startswith(b"\x89PNG\r\n\x1a\n")


async def test_a_long_journey_s_chart_stays_a_photo_telegram_takes(session: AsyncSession) -> None:
    steps = "".join(f"  - id: w{number}\n    wait: 1d\n" for number in range(60))
    await save(session, f"name: long\ntrigger: manual\nsteps:\n{steps}")
    report = await journey_report(session, name="long", now=T0)
    assert len(report.steps) == 60
    png = journey_png(report)
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR
    assert width + height <= 10_000
    assert height / width <= 20
