"""A journey report as CSV: one line per step (with how its branches went: `yes`, `no`,
`skipped`), then one for the journey as a whole (whose `reached` is every entry into the
journey, holdout left out, and which carries the lift against the holdout, in people).
Step ids and actions are the marketer's text, written safe to open in a spreadsheet
(core.safe_csv)."""

import io
from dataclasses import fields

from broadcasts.reports.lift import Lift
from core.safe_csv import Cell, SafeCsvWriter
from journeys.models import ExitReason
from journeys.reports.messages import StepMessages
from journeys.reports.report import JourneyReport, StepReport
from journeys.reports.words import BRANCHED

MESSAGE_FIELDS = tuple(item.name for item in fields(StepMessages))
LIFT_FIELDS = (
    "people_in_journey", "converted_in_journey", "people_in_holdout", "converted_in_holdout",
    "lift_points", "interval_low", "interval_high", "p_value", "test",
)  # fmt: skip
HEADER = (
    "journey", "version", "step", "action", "in_latest_version", "reached", "waiting",
    *BRANCHED, *MESSAGE_FIELDS, "converted", *(f"exited_{reason.value}" for reason in ExitReason),
    *LIFT_FIELDS,
)  # fmt: skip


def journey_csv(report: JourneyReport) -> str:
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(HEADER)
    writer.writerows(_step_line(report, row) for row in report.steps)
    writer.writerow(_journey_line(report))
    return buffer.getvalue()


def _step_line(report: JourneyReport, row: StepReport) -> list[Cell]:
    places = row.places
    return [
        report.journey, report.version, row.step, row.action, int(row.in_latest),
        places.reached, places.waiting, *(places.outcomes.get(name, 0) for name in BRANCHED),
        *_messages(row.messages), places.converted,
        *(places.exited.get(reason, 0) for reason in ExitReason), *([None] * len(LIFT_FIELDS)),
    ]  # fmt: skip


def _journey_line(report: JourneyReport) -> list[Cell]:
    entries = report.entries
    return [
        report.journey, report.version, None, "journey", None,
        entries.entered - entries.holdout, entries.inside, *([None] * len(BRANCHED)),
        *_messages(report.messages),
        entries.converted, *(entries.exited.get(reason, 0) for reason in ExitReason),
        *_lift(report.lift),
    ]  # fmt: skip


def _messages(messages: StepMessages) -> list[Cell]:
    return [getattr(messages, name) for name in MESSAGE_FIELDS]


def _lift(lift: Lift | None) -> list[Cell]:
    if lift is None:
        return [None] * len(LIFT_FIELDS)
    points = None if lift.absolute_lift is None else round(100 * lift.absolute_lift, 4)
    interval = lift.difference
    test = lift.significance
    return [
        lift.messaged, lift.messaged_converted, lift.holdout, lift.holdout_converted, points,
        None if interval is None else round(100 * interval.low, 4),
        None if interval is None else round(100 * interval.high, 4),
        None if test is None else round(test.p_value, 6),
        None if test is None else test.test.value,
    ]  # fmt: skip
