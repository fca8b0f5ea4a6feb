"""What the console's report pages show, built from the domain reports of the
hand-counted scenarios (tests/broadcasts/reports/scenario.py,
tests/journeys/report_scenario.py): the same numbers, laid out for a phone."""

import re
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.console.report_campaign import campaign_view
from bot.console.report_journey import journey_view
from bot.console.report_tables import Row
from broadcasts.reports import campaign_report
from journeys.reports import journey_report
from tests.broadcasts.audience import campaign_from
from tests.broadcasts.reports import scenario
from tests.broadcasts.reports.two_runs import AFTER, build_two_runs
from tests.journeys import report_scenario


def joined(words: str) -> str:
    """`words` with each count kept on one line with its word."""
    return re.sub(r"(\d) ", "\\1\N{NO-BREAK SPACE}", words)


def cells(row: Row) -> dict[str, str]:
    return dict(row.cells)


async def test_a_campaign_s_funnel_per_target_and_variant(session: AsyncSession) -> None:
    built = await scenario.build(session)
    report = await campaign_report(
        session, campaign_id=built.campaign_id, now=scenario.T0 + timedelta(days=30)
    )
    view = campaign_view(report)
    messages, response = view.tables
    assert [row.label for row in messages.rows] == ["spanish/a", "spanish/b", "default/a"]
    assert {row.note for row in messages.rows} == {""}  # one run: no run to name
    assert [(column.key, column.numeric) for column in messages.columns] == [
        ("targeted", True), ("excluded", True), ("sent", True), ("not_sent", False)
    ]  # fmt: skip
    assert [cells(row) for row in messages.rows] == [
        {"targeted": "5", "excluded": "1", "sent": "3", "not_sent": joined("1 failed")},
        {"targeted": "5", "excluded": "1", "sent": "2", "not_sent": joined("1 blocked, 1 unknown")},
        {"targeted": "2", "excluded": "1", "sent": "1", "not_sent": "0"},
    ]
    assert messages.total is not None
    assert cells(messages.total)["not_sent"] == joined("1 failed, 1 blocked, 1 unknown")
    assert [cells(row) for row in response.rows] == [
        {"read": "2", "clicked": "2", "converted": "1", "conversions": "1", "revenue": "100.00"},
        {"read": "2", "clicked": "0", "converted": "2", "conversions": "2", "revenue": "140.00"},
        {"read": "1", "clicked": "0", "converted": "0", "conversions": "0", "revenue": "0.00"},
    ]
    assert response.total is not None
    assert cells(response.total)["revenue"] == "240.00"
    assert ("Revenue", "240.00 EUR") in [(fact.label, fact.value) for fact in view.figures]
    assert view.summary == (
        "spring (goal conversions): 1 run(s); orders attributed within 7 day(s) of a send, "
        "last touch (window closed); read is inferred"
    )


async def test_the_chart_draws_each_stage_per_target_and_variant(session: AsyncSession) -> None:
    built = await scenario.build(session)
    report = await campaign_report(
        session, campaign_id=built.campaign_id, now=scenario.T0 + timedelta(days=30)
    )
    chart = campaign_view(report).chart
    assert chart["type"] == "bar"
    assert chart["data"]["labels"] == [
        "Targeted",
        "Sent",
        "Read (inferred)",
        "Clicked",
        "Converted",
    ]
    datasets = {each["label"]: each["data"] for each in chart["data"]["datasets"]}
    assert datasets == {
        "spanish/a": [5, 3, 2, 2, 1],
        "spanish/b": [5, 2, 2, 0, 2],
        "default/a": [2, 1, 1, 0, 0],
    }


async def test_lift_with_its_interval_and_the_ab_verdict_as_the_cli_words_it(
    session: AsyncSession,
) -> None:
    built = await build_two_runs(session)
    report = await campaign_report(session, campaign_id=built.campaign_id, now=AFTER)
    view = campaign_view(report)
    first, second = built.run_ids
    assert [row.note.split(",")[0] for row in view.tables[0].rows] == [
        f"run {first}", f"run {first}", f"run {second}", f"run {second}"
    ]  # fmt: skip
    everyone = view.lifts[0]
    assert everyone.title == "default (all runs)"
    assert {fact.label: fact.value for fact in everyone.facts} == {
        "Messaged": "4/5 bought (80.0%)",
        "Holdout": "1/1 bought (100.0%)",
        "Lift": "-20.0 points",
        "95% interval": "-62.4 to +61.0 points",
        "Relative": "-20%",
        "Test": "p = 1.000, Fisher's exact test",
    }
    assert everyone.verdict == "not significant at 0.05"
    assert everyone.significant is False
    assert view.ab[0] == (
        "A/B default (all runs), people who converted: a 2/2 (100.0%), b 1/2 (50.0%)",
        "  a vs b: p = 1.000, Fisher's exact test",
        "  1 sent more than one variant: left out",
        "  no winner yet (no variant is significantly better at 0.05)",
    )
    assert len(view.ab) == 3  # all runs, then each run


async def test_a_campaign_not_sent_yet_has_nothing_to_show(session: AsyncSession) -> None:
    fresh = await campaign_from(session, "name: fresh\ndefault: {text: hi}\n")
    report = await campaign_report(session, campaign_id=fresh.id, now=scenario.T0)
    assert report.runs == 0
    view = campaign_view(report)
    assert [table.rows for table in view.tables] == [(), ()]
    assert view.lifts == ()
    assert view.ab == ()


async def test_a_journey_step_by_step(session: AsyncSession) -> None:
    await report_scenario.build(session)
    report = await journey_report(session, name="welcome", now=report_scenario.REPORTED_AT)
    view = journey_view(report)
    steps, messages = view.tables
    assert [(row.label, row.note, cells(row)) for row in steps.rows] == [
        ("hello", "send", {"reached": "7", "waiting": "2", "converted": "1"}),
        ("pause", "wait", {"reached": "5", "waiting": "0", "converted": "1"}),
        ("clicked", "wait_for", {"reached": "3", "waiting": "1", "converted": "1"}),
        ("nudge", "send", {"reached": "1", "waiting": "0", "converted": "0"}),
        ("thanks", "send", {"reached": "1", "waiting": "0", "converted": "1"}),
        ("settle", "wait", {"reached": "2", "waiting": "1", "converted": "1"}),
    ]
    assert [(row.label, cells(row)) for row in messages.rows] == [
        ("hello", {"sent": "4", "read": "3", "clicked": "1", "replied": "1", "revenue": "0.00"}),
        ("nudge", {"sent": "1", "read": "0", "clicked": "0", "replied": "0", "revenue": "0.00"}),
        ("thanks", {"sent": "1", "read": "0", "clicked": "0", "replied": "0", "revenue": "100.00"}),
    ]
    assert messages.total is not None
    assert cells(messages.total)["sent"] == "6"
    assert view.branches == ("clicked: yes 1, no 1",)
    assert view.exits == ("pause: unsubscribed 1, blocked 1", "settle: goal 1")
    assert view.heading.startswith("welcome (live, version 1): trigger subscribed")
    assert view.lift is not None
    assert view.lift.startswith("Lift against the holdout, in people: in the journey 1/7")
    chart = view.chart["data"]
    assert chart["labels"] == ["hello", "pause", "clicked", "nudge", "thanks", "settle"]
    assert chart["datasets"][0] == {
        "label": "Reached",
        "data": [7, 5, 3, 1, 1, 2],
        "backgroundColor": "#4C72B0",
    }
