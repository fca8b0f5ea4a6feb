"""`segbot report journey NAME [--csv FILE] [--png FILE]`: a journey's entries, each step's
reach, messages, conversions and revenue, why people left, and the lift against the
holdout (journeys.reports). Registered under `segbot report` by cli/report.py.

Results go to stdout; errors are one line on stderr: exit 1 for a journey nothing has or
a file that cannot be written, 2 for bad input.
"""

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cli.execution import EXIT_FAILURE, config_or_exit, execute, fail, on_database, settings_or_exit
from cli.tables import FittedTable, SafeConsole
from core.clock import utcnow
from journeys.reports import JourneyReport, journey_csv, journey_png, journey_report
from journeys.reports.words import entries_line, exits_text, heading, lift_line, outcomes_text

out = SafeConsole(highlight=False)


def journey(
    name: Annotated[str, typer.Argument(help="The journey's name.")],
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the steps as CSV.")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="Also draw the steps as PNG.")] = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=365,
            help="Attribution window of the messages' orders, in days "
            "(default: reports.attribution_days).",
        ),
    ] = None,
) -> None:
    """A journey per step: reached, sent, read, clicked, replied, converted, revenue, who
    left and why; lift against the holdout."""
    settings = settings_or_exit()
    config = config_or_exit(settings).reports
    window = config.attribution_window if days is None else timedelta(days=days)

    async def work(sessionmaker: async_sessionmaker[AsyncSession]) -> JourneyReport:
        async with sessionmaker() as session:
            return await journey_report(session, name=name, now=utcnow(), window=window)

    report = execute(on_database(settings, work))
    print_journey_report(out, report)
    if csv is not None:
        _write(csv, journey_csv(report).encode("utf-8"))
    if png is not None:
        _write(png, journey_png(report))


def _write(path: Path, data: bytes) -> None:
    """Write the file, or fail naming it (an error writing it names no file)."""
    try:
        path.write_bytes(data)
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror}", EXIT_FAILURE)
    out.print(f"wrote {path}")


def print_journey_report(console: Console, report: JourneyReport) -> None:
    """The report as terminal lines and the steps' table."""
    console.print(heading(report), markup=False)
    console.print(entries_line(report), markup=False)
    console.print(steps_table(report))
    state = "still open" if report.window_open else "closed"
    mixed = len(report.currencies) > 1
    console.print(
        f"read is inferred; orders are attributed to a message within {report.window.days} "
        f"day(s), last touch (window {state})"
        + (f"; revenue adds up {', '.join(report.currencies)}" if mixed else "")
    )
    if report.lift is not None:
        console.print(lift_line(report.lift), markup=False)


def steps_table(report: JourneyReport) -> FittedTable:
    table = FittedTable(
        "step", "action", "reached", "waiting", "sent", "not sent", "read", "clicked",
        "replied", "went", "converted", "orders", "revenue", "left here", title="Steps",
    )  # fmt: skip
    for row in report.steps:
        places, messages = row.places, row.messages
        table.add_row(
            row.step if row.in_latest else f"{row.step} (older version)", row.action,
            str(places.reached), str(places.waiting),
            f"{messages.sent} (+{messages.pending} queued)" if messages.pending
            else str(messages.sent),
            str(messages.unsent), str(messages.read), str(messages.clicked),
            str(messages.replied), outcomes_text(places.outcomes) or "-",
            str(places.converted), str(messages.orders),
            f"{messages.revenue:.2f}", exits_text(places.exited) or "-",
        )  # fmt: skip
    return table
