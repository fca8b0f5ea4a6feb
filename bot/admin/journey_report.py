"""`/report journey NAME` (a branch of `/report`, bot.admin.report_commands): a journey's
report as text (each step's reach, messages, conversions, revenue and who left there,
then the lift against the holdout), its chart and the CSV of every step. The numbers
come from journeys.reports; this module only presents them."""

from collections.abc import Sequence
from html import escape
from typing import TypeVar

from aiogram.types import BufferedInputFile

from bot.admin import charts
from bot.admin.monospace import bold, pieces, table
from bot.admin.registry import Call
from journeys.reports import JourneyReport, journey_csv, journey_png, journey_report
from journeys.reports.words import entries_line, exits_text, heading, lift_line, outcomes_text

ROWS_PER_TABLE = 30  # a longer journey's steps go on in further tables (and messages)
T = TypeVar("T")
SUBCOMMAND = "journey"


def report_blocks(report: JourneyReport) -> list[str]:
    """The report as blocks of HTML, each short enough for one message."""
    rows = [
        (row.step if row.in_latest else f"{row.step}*", row.places.reached, row.messages.sent,
         row.messages.read, row.messages.clicked, row.messages.replied, row.places.converted,
         round(row.messages.revenue, 2))
        for row in report.steps
    ]  # fmt: skip
    header = ["step", "reached", "sent", "read*", "clicked", "replied", "conv", "revenue"]
    notes = ["* read is inferred: a click, button, reaction or reply after the message."]
    if any(not row.in_latest for row in report.steps):
        notes.append("step* : only an older version has it.")
    if report.window_open:
        notes.append(f"Orders may still come: the window is {report.window.days} days.")
    blocks = [
        f"{bold('Report: journey ' + report.journey)}\n{escape(heading(report))}\n"
        f"{escape(entries_line(report))}",
        *(table(header, chunk) for chunk in _chunks(rows) or [[]]),
        "\n".join(notes),
    ]
    for title, texts in (
        ("How branches went", [outcomes_text(row.places.outcomes) for row in report.steps]),
        ("Left at each step", [exits_text(row.places.exited) for row in report.steps]),
    ):
        said = [
            f"{row.step}: {text}" for row, text in zip(report.steps, texts, strict=True) if text
        ]
        blocks += [f"{title}:\n" + escape("\n".join(chunk)) for chunk in _chunks(said)]
    if report.lift is not None:
        blocks.append(escape(lift_line(report.lift)))
    return blocks


def _chunks(items: Sequence[T]) -> list[Sequence[T]]:
    """`items` in pieces of ROWS_PER_TABLE, so that each block fits in one message."""
    return [items[start : start + ROWS_PER_TABLE] for start in range(0, len(items), ROWS_PER_TABLE)]


async def journey_report_command(call: Call, name: str) -> None:
    """`/report journey NAME`: the text, the chart, the CSV."""
    report = await journey_report(
        call.session, name=name, now=call.clock(), window=call.services.reports.attribution_window
    )
    for text in pieces(report_blocks(report)):
        await call.reply(text)
    png = await charts.render(lambda: journey_png(report))
    name = report.journey  # [A-Za-z0-9_.-] only (journeys.spec): a safe file name
    await call.message.answer_photo(
        BufferedInputFile(png, filename=f"journey-{name}.png"),
        caption=f"Journey {escape(name)}, step by step",
    )
    await call.message.answer_document(
        BufferedInputFile(journey_csv(report).encode(), filename=f"journey-{name}.csv"),
        caption="Every step and the journey as a whole, as CSV",
    )
