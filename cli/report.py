"""`segbot report ...`: a campaign's funnel, conversions, lift and A/B results (to the
terminal, a CSV file and a PNG chart), and the audience and segment trends.

Results go to stdout; errors are one line on stderr, exit 2 for bad input and 1 when the
database cannot be used.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.campaigns import get_campaign
from broadcasts.reports import (
    AudienceStats,
    CampaignReport,
    FunnelCounts,
    ReportsConfig,
    audience_stats,
    campaign_report,
    funnel_png,
    report_csv,
    results_csv,
)
from broadcasts.reports.send_time import SegmentSendTime, best_send_times
from broadcasts.reports.significance import p_text
from broadcasts.reports.trends import (
    SegmentTrend,
    Transition,
    activity_transitions,
    segment_trends,
)
from cli.execution import (
    EXIT_FAILURE,
    config_or_exit,
    execute,
    fail,
    on_database,
    settings_or_exit,
)
from cli.journey_report import journey
from cli.tables import FittedTable, SafeConsole
from core.clock import utcnow

T = TypeVar("T")

app = typer.Typer(
    help="Reports: a campaign's funnel and conversions; audience and segment trends.",
    no_args_is_help=True,
    add_completion=False,
)
out = SafeConsole(highlight=False)
app.command()(journey)  # segbot report journey NAME: cli/journey_report.py


def _run(work: Callable[[async_sessionmaker[AsyncSession], ReportsConfig], Awaitable[T]]) -> T:
    settings = settings_or_exit()
    config = config_or_exit(settings).reports
    return execute(on_database(settings, lambda sessions: work(sessions, config)))


@app.command()
def campaign(
    ref: Annotated[str, typer.Argument(help="The campaign's id or name.")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the funnel as CSV.")] = None,
    results_csv_file: Annotated[
        Path | None,
        typer.Option("--results-csv", help="Also write lift and A/B results (in people) as CSV."),
    ] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw the funnel as PNG.")] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1, max=365, help="Attribution window in days (default: reports.attribution_days)."
        ),
    ] = None,
) -> None:
    """Funnel per run x target x variant, conversions and revenue; lift and A/B results
    in people, with the test used."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], config: ReportsConfig) -> None:
        window = config.attribution_window if days is None else timedelta(days=days)
        async with sessionmaker() as session:
            found = await get_campaign(session, ref=ref)
            report = await campaign_report(
                session, campaign_id=found.id, now=utcnow(), window=window
            )
        if not report.runs:
            fail(
                f"campaign {found.name!r} has not sent yet: nothing to report "
                f"(segbot campaign send-now {found.name})",
                EXIT_FAILURE,
            )
        print_campaign_report(out, report)
        files: list[tuple[Path | None, Callable[[], bytes]]] = [
            (csv, lambda: report_csv(report).encode("utf-8")),
            (results_csv_file, lambda: results_csv(report).encode("utf-8")),
            (png, lambda: funnel_png(report)),
        ]
        for path, content in files:
            if path is None:
                continue
            try:
                path.write_bytes(content())
            except OSError as error:  # named by its path: an error writing it names no file
                fail(f"cannot write {path}: {error.strerror}", EXIT_FAILURE)
            out.print(f"wrote {path}")

    _run(work)


@app.command()
def segments(
    days: Annotated[int, typer.Option(min=1, max=3650, help="The period, in days.")] = 30,
) -> None:
    """The audience, its growth and activity; segment sizes, entries and exits over the
    period; activity level changes; the best local hour to message each segment."""

    async def work(sessionmaker: async_sessionmaker[AsyncSession], _: ReportsConfig) -> None:
        now = utcnow()
        async with sessionmaker() as session:
            stats = await audience_stats(session, now=now)
            trends = await segment_trends(session, now=now, days=days)
            moves = await activity_transitions(session, now=now, days=days)
            times = await best_send_times(session, now=now)
        out.print(audience_table(stats))
        out.print(segments_table(trends, times, days=days))
        if moves:
            out.print(transitions_table(moves, days=days))

    _run(work)


def print_campaign_report(console: Console, report: CampaignReport) -> None:
    """The report as terminal tables: the funnel, then lift and A/B results if any."""
    state = "still open" if report.window_open else "closed"
    console.print(
        f"{report.campaign} (goal {report.goal.value}): {report.runs} run(s); "
        f"orders attributed within {report.window.days} day(s) of a send, last touch "
        f"(window {state}); read is inferred"
    )
    console.print(funnel_table(report))
    if len(report.currencies) > 1:
        console.print(f"revenue adds up orders in {', '.join(report.currencies)}")
    if report.lift:
        console.print(lift_table(report))
    for result in report.ab:
        for line in result.lines():
            console.print(line, markup=False)


def funnel_table(report: CampaignReport) -> FittedTable:
    table = FittedTable(
        "run", "target", "variant", "targeted", "excluded", "sent", "failed", "blocked",
        "unknown", "read", "clicked", "CTR", "unsub/block 48h", "conversions", "revenue",
        "rev/sent", key=3, title="Funnel",
    )  # fmt: skip
    for row in report.rows:
        table.add_row(str(row.run_id), row.target, row.variant, *_cells(row.counts))
    table.add_section()
    table.add_row("total", "", "", *_cells(report.totals))
    return table


def _cells(counts: FunnelCounts) -> list[str]:
    excluded = ", ".join(f"{count} {reason}" for reason, count in sorted(counts.excluded.items()))
    per_sent = "-" if counts.revenue_per_sent is None else f"{counts.revenue_per_sent:.2f}"
    return [
        str(counts.targeted), excluded or "0", str(counts.sent), str(counts.failed),
        str(counts.blocked), str(counts.unknown), str(counts.read),
        f"{counts.clicked} ({counts.clicks})", _percent(counts.ctr), str(counts.churned),
        str(counts.conversions), f"{counts.revenue:.2f}", per_sent,
    ]  # fmt: skip


def lift_table(report: CampaignReport) -> FittedTable:
    confidence = report.lift[0].confidence
    table = FittedTable(
        "runs", "target", "messaged", "bought", "holdout", "bought", "lift (points)",
        f"{confidence:.0%} interval", "relative", "p", "test", key=2,
        title="Lift against the holdout, in people",
        caption="Across runs each person counts once (held out once and messaged once: "
        "messaged). Interval: Newcombe hybrid score. p: two-sided; Fisher's exact test "
        "when an expected count is below 5.",
    )  # fmt: skip
    for lift in report.lift:
        interval = (
            "-"
            if lift.difference is None
            else f"{100 * lift.difference.low:+.1f} .. {100 * lift.difference.high:+.1f}"
        )
        absolute = "-" if lift.absolute_lift is None else f"{100 * lift.absolute_lift:+.1f}"
        relative = "-" if lift.relative_lift is None else f"{lift.relative_lift:+.0%}"
        test = lift.significance
        table.add_row(
            lift.scope, lift.target, str(lift.messaged),
            _share(lift.messaged_converted, lift.messaged_rate), str(lift.holdout),
            _share(lift.holdout_converted, lift.holdout_rate), absolute, interval, relative,
            "-" if test is None else p_text(test.p_value, bare=True),
            "-" if test is None else test.test.value,
        )  # fmt: skip
    return table


def audience_table(stats: AudienceStats) -> FittedTable:
    table = FittedTable("audience", "subscribers", title=f"Audience ({stats.total} in all)")
    for status, count in stats.by_status.items():
        table.add_row(status, str(count))
    table.add_section()
    for growth in stats.growth:
        table.add_row(
            f"last {growth.days} days", f"+{growth.joined} -{growth.left} = {growth.net:+d}"
        )
    table.add_section()
    for level, count in stats.activity.items():
        table.add_row(f"activity: {level}", str(count))
    table.add_section()
    for source, count in stats.sources:
        table.add_row(f"source: {source}", str(count))
    return table


def segments_table(
    trends: list[SegmentTrend], times: list[SegmentSendTime], *, days: int
) -> FittedTable:
    hours = {time.segment: time for time in times}
    table = FittedTable(
        "segment", "size", f"change {days}d", "entered", "left", "refreshed", "best hour",
        title=f"Segments over the last {days} days",
    )  # fmt: skip
    for trend in trends:
        best = hours.get(trend.segment)
        hour = "-" if best is None or best.hour is None else f"{best.hour:02d}:00 local"
        table.add_row(
            trend.segment, _number(trend.size), _signed(trend.change), str(trend.entered),
            str(trend.left), _moment(trend.refreshed_at), hour,
        )  # fmt: skip
    if not trends:
        table.add_row("no saved segments yet", "", "", "", "", "", "")
    return table


def transitions_table(moves: list[Transition], *, days: int) -> FittedTable:
    table = FittedTable(
        "from", "to", "subscribers", title=f"Activity level changes, last {days} days"
    )
    for move in moves:
        table.add_row(move.before, move.after, str(move.subscribers))
    return table


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _share(count: int, share: float | None) -> str:
    return f"{count} ({_percent(share)})"


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _signed(value: int | None) -> str:
    return "-" if value is None else f"{value:+d}"


def _moment(value: datetime | None) -> str:
    return "never" if value is None else f"{value:%Y-%m-%d %H:%M} UTC"
