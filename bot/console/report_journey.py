"""A journey's report as the console shows it: what the journey is and who entered (the
sentences of `segbot report journey`), where entries went step by step, what each send
step's messages did, how branches went, who left where, a chart of the steps and the lift
against the holdout. The numbers are journeys.reports.journey_report's, the same as the
CLI's and the chat's."""

from collections.abc import Callable
from dataclasses import dataclass

from bot.console.report_charts import Chart, journey_chart
from bot.console.report_tables import Column, Fact, Table, count, money, table
from journeys.reports import JourneyReport, StepReport
from journeys.reports.words import entries_line, exits_text, heading, lift_line, outcomes_text

READ_NOTE = "* read is inferred: a click, button, reaction or reply after the message."


@dataclass(frozen=True, slots=True)
class JourneyView:
    heading: str
    entries: str
    figures: tuple[Fact, ...]
    chart: Chart
    tables: tuple[Table, ...]
    branches: tuple[str, ...]  # `step: yes 2, no 1`
    exits: tuple[str, ...]  # `step: goal 1, unsubscribed 1`
    lift: str | None  # None: the journey has no holdout
    notes: tuple[str, ...]


def journey_view(report: JourneyReport) -> JourneyView:
    return JourneyView(
        heading=heading(report),
        entries=entries_line(report),
        figures=_figures(report),
        chart=journey_chart(report),
        tables=(_places(report), _messages(report)),
        branches=_said(report, lambda row: outcomes_text(row.places.outcomes)),
        exits=_said(report, lambda row: exits_text(row.places.exited)),
        lift=None if report.lift is None else lift_line(report.lift),
        notes=_notes(report),
    )


def _figures(report: JourneyReport) -> tuple[Fact, ...]:
    entries = report.entries
    money_in = f" {report.currencies[0]}" if len(report.currencies) == 1 else ""
    return (
        Fact("Entered", count(entries.entered - entries.holdout)),
        Fact("Held out", count(entries.holdout)),
        Fact("Inside now", count(entries.inside)),
        Fact("Converted", count(entries.converted)),
        Fact("Messages sent", count(report.messages.sent)),
        Fact("Revenue", money(report.messages.revenue) + money_in),
    )


def _step(row: StepReport) -> str:
    return row.step if row.in_latest else f"{row.step} (older version)"


def _places(report: JourneyReport) -> Table:
    return table(
        "steps",
        "Steps",
        "step",
        [
            (Column("reached", "reached"), lambda row: count(row.places.reached)),
            (Column("waiting", "waiting"), lambda row: count(row.places.waiting)),
            (Column("converted", "converted"), lambda row: count(row.places.converted)),
        ],
        [(_step(row), row.action, row) for row in report.steps],
    )


def _messages(report: JourneyReport) -> Table:
    sends = [(_step(row), "", row.messages) for row in report.steps if row.action == "send"]
    return table(
        "messages",
        "Messages of the send steps",
        "step",
        [
            (Column("sent", "sent"), lambda messages: count(messages.sent)),
            (Column("read", "read*"), lambda messages: count(messages.read)),
            (Column("clicked", "clicked"), lambda messages: count(messages.clicked)),
            (Column("replied", "replied"), lambda messages: count(messages.replied)),
            (Column("revenue", "revenue"), lambda messages: money(messages.revenue)),
        ],
        sends,
        report.messages if sends else None,
    )


def _said(report: JourneyReport, words: Callable[[StepReport], str]) -> tuple[str, ...]:
    return tuple(f"{_step(row)}: {text}" for row in report.steps if (text := words(row)))


def _notes(report: JourneyReport) -> tuple[str, ...]:
    notes = [READ_NOTE]
    pending = report.messages.pending
    if pending:
        notes.append(f"{pending:,} message(s) still queued.")
    state = "still open" if report.window_open else "closed"
    notes.append(
        f"Orders are attributed to a message within {report.window.days} day(s), last touch "
        f"(window {state})."
    )
    if len(report.currencies) > 1:
        notes.append(f"Revenue adds up {', '.join(report.currencies)}.")
    return tuple(notes)
