"""A campaign's report as the console shows it: the funnel per run, target and variant in
two tables (what happened to the messages; what recipients did), the totals, a chart per
target and variant, lift against the holdout with its interval and test, and each A/B
result in the words of `segbot report campaign`. The numbers are
broadcasts.reports.campaign_report's, the same as the CLI's and the chat's."""

from collections.abc import Callable
from dataclasses import dataclass

from bot.console.report_charts import Chart, funnel_chart
from bot.console.report_tables import Column, Fact, Table, count, money, share, table
from broadcasts.reports import CampaignReport, FunnelCounts, FunnelRow, Lift

Cell = Callable[[FunnelCounts], str]
KEY = "target / variant"  # the heading may wrap; the labels (`spanish/a`) do not
READ_NOTE = "* read is inferred: a click, button, reaction or reply after the message."
# Messages in none of the funnel's stages, in words (`1 failed, 2 pending`): one column
# that wraps, so the table stays a phone's width whatever happened
NOT_SENT = ("failed", "blocked", "unknown", "pending", "cancelled")
MESSAGE_COLUMNS: tuple[tuple[Column, Cell], ...] = (
    (Column("targeted", "targeted"), lambda counts: count(counts.targeted)),
    (Column("excluded", "excluded"), lambda counts: count(counts.excluded_total)),
    (Column("sent", "sent"), lambda counts: count(counts.sent)),
    (Column("not_sent", "not sent", numeric=False), lambda counts: _not_sent(counts)),
)
RESPONSE_COLUMNS: tuple[tuple[Column, Cell], ...] = (
    (Column("read", "read*"), lambda counts: count(counts.read)),
    (Column("clicked", "clicked"), lambda counts: count(counts.clicked)),
    (Column("converted", "converted"), lambda counts: count(counts.converted)),
    (Column("conversions", "orders"), lambda counts: count(counts.conversions)),
    (Column("revenue", "revenue"), lambda counts: money(counts.revenue)),
)


@dataclass(frozen=True, slots=True)
class LiftView:
    title: str
    facts: tuple[Fact, ...]
    verdict: str
    significant: bool | None  # None: not tested


@dataclass(frozen=True, slots=True)
class CampaignView:
    summary: str
    figures: tuple[Fact, ...]
    chart: Chart
    tables: tuple[Table, ...]
    notes: tuple[str, ...]
    lifts: tuple[LiftView, ...]
    ab: tuple[tuple[str, ...], ...]  # each result's lines, as `segbot report` prints them


def campaign_view(report: CampaignReport) -> CampaignView:
    totals = report.totals
    rows = [(_label(row), _note(report, row), row.counts) for row in report.rows]
    return CampaignView(
        summary=_summary(report),
        figures=_figures(report),
        chart=funnel_chart(_per_variant(report)),
        tables=(
            table("messages", "Messages", KEY, MESSAGE_COLUMNS, rows, totals),
            table("response", "What recipients did", KEY, RESPONSE_COLUMNS, rows, totals),
        ),
        notes=_notes(report),
        lifts=tuple(_lift(lift) for lift in report.lift),
        ab=tuple(tuple(result.lines()) for result in report.ab),
    )


def _summary(report: CampaignReport) -> str:
    """The first line of `segbot report campaign`."""
    state = "still open" if report.window_open else "closed"
    return (
        f"{report.campaign} (goal {report.goal.value}): {report.runs} run(s); orders "
        f"attributed within {report.window.days} day(s) of a send, last touch (window "
        f"{state}); read is inferred"
    )


def _label(row: FunnelRow) -> str:
    return f"{row.target}/{row.variant}"


def _note(report: CampaignReport, row: FunnelRow) -> str:
    if report.runs < 2:
        return ""
    started = row.run_started_at
    return f"run {row.run_id}, {started.day} {started:%b}"


def _not_sent(counts: FunnelCounts) -> str:
    """`1 failed, 2 pending` (no line break inside `1 failed`); `0` when every message
    was sent or excluded."""
    said = [
        f"{count(n)}\N{NO-BREAK SPACE}{state}"
        for state in NOT_SENT
        if (n := getattr(counts, state))
    ]
    return ", ".join(said) or "0"


def _per_variant(report: CampaignReport) -> dict[str, FunnelCounts]:
    """Every run added up, per target and variant, in the report's order."""
    funnels: dict[str, FunnelCounts] = {}
    for row in report.rows:
        funnels[_label(row)] = funnels.get(_label(row), FunnelCounts()) + row.counts
    return funnels


def _figures(report: CampaignReport) -> tuple[Fact, ...]:
    totals = report.totals
    money_in = f" {report.currencies[0]}" if len(report.currencies) == 1 else ""
    return (
        Fact("Sent", count(totals.sent)),
        Fact("Read (inferred)", f"{count(totals.read)} · {share(totals.read_rate)}"),
        Fact("Clicked", f"{count(totals.clicked)} · {share(totals.ctr)}"),
        Fact("Converted", f"{count(totals.converted)} · {share(totals.conversion_rate)}"),
        Fact("Revenue", money(totals.revenue) + money_in),
        Fact("Unsubscribed or blocked in 48 h", count(totals.churned)),
    )


def _notes(report: CampaignReport) -> tuple[str, ...]:
    notes = [READ_NOTE]
    if report.window_open:
        notes.append(f"Conversions may still come: the window is {report.window.days} days.")
    if len(report.currencies) > 1:
        notes.append(f"Revenue adds up orders in {', '.join(report.currencies)}.")
    if report.runs > 1 and (report.lift or report.ab):
        notes.append("Lift and A/B count each person once across runs, then each run alone.")
    return tuple(notes)


def _lift(lift: Lift) -> LiftView:
    interval, test = lift.difference, lift.significance
    points = "-" if lift.absolute_lift is None else f"{100 * lift.absolute_lift:+.1f} points"
    between = (
        "-"
        if interval is None
        else f"{100 * interval.low:+.1f} to {100 * interval.high:+.1f} points"
    )
    facts = (
        Fact("Messaged", _bought(lift.messaged_converted, lift.messaged, lift.messaged_rate)),
        Fact("Holdout", _bought(lift.holdout_converted, lift.holdout, lift.holdout_rate)),
        Fact("Lift", points),
        Fact(f"{lift.confidence:.0%} interval", between),
        Fact("Relative", "-" if lift.relative_lift is None else f"{lift.relative_lift:+.0%}"),
        Fact("Test", "not tested: nobody messaged" if test is None else test.describe()),
    )
    alpha = f"{1 - lift.confidence:.2g}"
    verdict = {
        None: "not tested",
        True: f"significant at {alpha}",
        False: f"not significant at {alpha}",
    }[lift.significant]
    return LiftView(f"{lift.target} ({lift.scope})", facts, verdict, lift.significant)


def _bought(converted: int, people: int, rate: float | None) -> str:
    return f"{converted:,}/{people:,} bought ({share(rate)})"
