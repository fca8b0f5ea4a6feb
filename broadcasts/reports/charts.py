"""The campaign funnel as a PNG, drawn to be read on a phone: a tall image, large type,
one stage per bar with its count and share of messages sent, then the click-through and
conversion rate per target.

Drawn on a bare matplotlib Figure with the Agg canvas: no pyplot state, no display;
matplotlib is imported on the first drawing, not with the package.
"""

import io
from typing import TYPE_CHECKING

from broadcasts.reports.campaign import CampaignReport, FunnelCounts

if TYPE_CHECKING:
    from matplotlib.axes import Axes

WIDTH, HEIGHT, DPI = 6.0, 8.0, 150  # inches; 900 x 1200 pixels
STAGE_COLOUR, CLICK_COLOUR, CONVERSION_COLOUR = "#4C72B0", "#55A868", "#C44E52"


def funnel_png(report: CampaignReport) -> bytes:
    """The report's funnel (all runs together) and rates per target, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    stages_axes, targets_axes = figure.subplots(2, 1, height_ratios=(3, 2))
    totals = report.totals
    figure.suptitle(f"Campaign {report.campaign}", fontsize=16, fontweight="bold")
    _stages(stages_axes, totals)
    _targets(targets_axes, report)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _stages(axes: "Axes", totals: FunnelCounts) -> None:
    stages = [
        ("Targeted", totals.targeted),
        ("Sent", totals.sent),
        ("Read (inferred)", totals.read),
        ("Clicked", totals.clicked),
        ("Converted", totals.converted),
    ]
    labels = [name for name, _ in stages][::-1]
    values = [value for _, value in stages][::-1]
    bars = axes.barh(labels, values, color=STAGE_COLOUR)
    notes = [
        f"{value:,}" if name in {"Targeted", "Sent"} or not totals.sent
        else f"{value:,} ({value / totals.sent:.0%})"
        for name, value in zip(labels, values, strict=True)
    ]  # fmt: skip
    axes.bar_label(bars, labels=notes, padding=4, fontsize=12)
    axes.set_title(
        f"Revenue {totals.revenue:,.2f} · unsubscribed or blocked in 48 h: {totals.churned:,}",
        fontsize=11,
    )
    axes.tick_params(axis="y", labelsize=12)
    axes.set_xlim(0, max(max(values), 1) * 1.35)
    axes.xaxis.set_visible(False)
    axes.spines[["top", "right", "bottom"]].set_visible(False)


def _targets(axes: "Axes", report: CampaignReport) -> None:
    per_target: dict[str, FunnelCounts] = {}
    for row in report.rows:
        per_target[row.target] = per_target.get(row.target, FunnelCounts()) + row.counts
    names = list(per_target)[::-1]
    ctr = [100 * (per_target[name].ctr or 0.0) for name in names]
    converted = [100 * (per_target[name].conversion_rate or 0.0) for name in names]
    positions = range(len(names))
    height = 0.4
    clicks = axes.barh(
        [p + height / 2 for p in positions], ctr, height, color=CLICK_COLOUR, label="Click-through"
    )
    orders = axes.barh(
        [p - height / 2 for p in positions],
        converted,
        height,
        color=CONVERSION_COLOUR,
        label="Conversion",
    )
    axes.bar_label(clicks, fmt="%.1f%%", padding=3, fontsize=11)
    axes.bar_label(orders, fmt="%.1f%%", padding=3, fontsize=11)
    axes.set_yticks(list(positions), names, fontsize=12)
    axes.set_title("Rates per target (of messages sent)", fontsize=11)
    axes.set_xlim(0, max([*ctr, *converted, 1.0]) * 1.3)
    axes.xaxis.set_visible(False)
    axes.spines[["top", "right", "bottom"]].set_visible(False)
    axes.legend(loc="lower right", fontsize=10, frameon=False)
