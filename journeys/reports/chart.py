"""The journey report as a PNG, drawn to be read on a phone like the campaign funnel
(broadcasts.reports.charts): each step top to bottom with how many entries reached it,
were sent its message, clicked and went on to convert; below, why entries left.

A bare matplotlib Figure on the Agg canvas (no pyplot state, no display); matplotlib is
imported on the first drawing, not with the package.
"""

import io
from typing import TYPE_CHECKING

from journeys.reports.report import JourneyReport

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH, DPI = 6.0, 150  # inches; 900 pixels wide
SERIES = (  # label, colour
    ("Reached", "#4C72B0"),
    ("Sent", "#8172B2"),
    ("Clicked", "#55A868"),
    ("Converted", "#C44E52"),
)
EXIT_COLOUR = "#937860"
# Steps drawn at most: a taller image is more than Telegram takes as a photo (width and
# height add up to 10,000 pixels at most); the CSV has every step.
MAX_STEPS = 25


def journey_png(report: JourneyReport) -> bytes:
    """The report's steps and exits, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps_height = 1.0 + 0.9 * max(min(len(report.steps), MAX_STEPS), 1)
    exits_height = 1.0 + 0.4 * max(len(report.entries.exited), 1)
    figure = Figure(
        figsize=(WIDTH, steps_height + exits_height + 1.2), dpi=DPI, layout="constrained"
    )
    FigureCanvasAgg(figure)
    steps_axes, exits_axes = figure.subplots(2, 1, height_ratios=(steps_height, exits_height))
    figure.suptitle(f"Journey {report.journey}", fontsize=16, fontweight="bold")
    _steps(steps_axes, report)
    _exits(exits_axes, report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def _steps(axes: "Axes", report: JourneyReport) -> None:
    rows = report.steps[:MAX_STEPS][::-1]
    values = [
        [row.places.reached for row in rows],
        [row.messages.sent for row in rows],
        [row.messages.clicked for row in rows],
        [row.places.converted for row in rows],
    ]
    height = 0.8 / len(SERIES)
    for number, ((label, colour), counts) in enumerate(zip(SERIES, values, strict=True)):
        offset = (len(SERIES) - 1) / 2 - number
        bars = axes.barh(
            [place + offset * height for place in range(len(rows))],
            counts, height, color=colour, label=label,
        )  # fmt: skip
        axes.bar_label(bars, labels=[f"{n:,}" if n else "" for n in counts], padding=3)
    names = [f"{row.step}{'' if row.in_latest else ' (older)'}\n{row.action}" for row in rows]
    axes.set_yticks(list(range(len(rows))), names)
    entries = report.entries
    more = len(report.steps) - MAX_STEPS
    axes.set_title(
        f"{entries.entered - entries.holdout:,} entered · {entries.converted:,} converted"
        f" · revenue {report.messages.revenue:,.2f}{_lift_note(report)}"
        + (f"\nthe first {MAX_STEPS} of {len(report.steps)} steps" if more > 0 else ""),
        fontsize=11,
    )
    axes.set_xlim(0, max([*values[0], 1]) * 1.25)
    axes.xaxis.set_visible(False)
    axes.spines[["top", "right", "bottom"]].set_visible(False)
    axes.legend(loc="lower right", fontsize=10, frameon=False)


def _exits(axes: "Axes", report: JourneyReport) -> None:
    exited = report.entries.exited
    reasons = [reason.value for reason in exited][::-1]
    counts = [exited[reason] for reason in exited][::-1]
    bars = axes.barh(reasons or ["nobody yet"], counts or [0], color=EXIT_COLOUR)
    axes.bar_label(bars, labels=[f"{n:,}" for n in counts or [0]], padding=3)
    axes.set_title("Entries that left, by reason", fontsize=11)
    axes.set_xlim(0, max([*counts, 1]) * 1.25)
    axes.xaxis.set_visible(False)
    axes.spines[["top", "right", "bottom"]].set_visible(False)


def _lift_note(report: JourneyReport) -> str:
    lift = report.lift
    if lift is None or lift.absolute_lift is None:
        return ""
    return f"\nlift {100 * lift.absolute_lift:+.1f} points against the holdout"
