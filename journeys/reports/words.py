"""A journey report's sentences, the same in the terminal, the admin chat and the demo:
what the journey is, who entered and left, and its lift against the holdout."""

from collections.abc import Mapping

from broadcasts.reports.lift import Lift
from journeys.models import ExitReason
from journeys.reports.report import JourneyReport

BRANCHED = ("yes", "no", "skipped")  # the step log's outcomes worth showing (journeys.models)


def heading(report: JourneyReport) -> str:
    """`welcome (live, version 2): trigger subscribed; goal purchased within 1w; holdout 30%`"""
    goal = "no goal" if report.goal is None else f"goal {report.goal}"
    return (
        f"{report.journey} ({report.status.value}, version {report.version}): trigger "
        f"{report.trigger}; {goal}; holdout {report.holdout_percent}%"
    )


def entries_line(report: JourneyReport) -> str:
    """`11 entries by 10 people: 4 held out, 4 inside now, 1 converted; left: goal 1, ...`"""
    entries = report.entries
    return (
        f"{entries.entered} entries by {entries.people} people: {entries.holdout} held out, "
        f"{entries.inside} inside now, {entries.converted} converted; "
        f"left: {exits_text(entries.exited) or 'nobody'}"
    )


def exits_text(exited: Mapping[ExitReason, int]) -> str:
    """`goal 1, unsubscribed 1` in the order of ExitReason; empty when nobody left."""
    return ", ".join(
        f"{reason.value} {exited[reason]}" for reason in ExitReason if reason in exited
    )


def outcomes_text(outcomes: Mapping[str, int]) -> str:
    """How a step went where that says more than its counts: `yes 2, no 1` for a branch
    or a wait for an event, `skipped 1` for a send with no message for someone."""
    return ", ".join(
        f"{outcome} {outcomes[outcome]}" for outcome in BRANCHED if outcomes.get(outcome)
    )


def lift_line(lift: Lift) -> str:
    """The goal's lift against the holdout, in people, with its interval and test."""
    groups = (
        f"in the journey {lift.messaged_converted}/{lift.messaged} converted"
        f"{_share(lift.messaged_rate)}, holdout {lift.holdout_converted}/{lift.holdout}"
        f"{_share(lift.holdout_rate)}"
    )
    text = f"Lift against the holdout, in people: {groups}"
    if lift.absolute_lift is None or lift.difference is None or lift.significance is None:
        return f"{text}; nobody in the journey yet to compare"
    low, high = lift.difference.low, lift.difference.high
    return (
        f"{text}; {100 * lift.absolute_lift:+.1f} points ({100 * low:+.1f} to {100 * high:+.1f},"
        f" {lift.confidence:.0%} interval), {lift.significance.describe()}"
    )


def _share(rate: float | None) -> str:
    return "" if rate is None else f" ({rate:.1%})"
