"""The reports' charts as Chart.js configurations (console.js draws every
`<canvas data-chart>` with them): a campaign's funnel per target and variant, and a
journey's steps. Bars lie on their side, so long names stay readable on a phone."""

from collections.abc import Mapping
from typing import Any

from broadcasts.reports import FunnelCounts
from journeys.reports import JourneyReport
from journeys.reports.chart import SERIES

Chart = dict[str, Any]
# The campaign funnel PNG's colours first (broadcasts.reports.charts), then more for
# campaigns with many targets and variants.
PALETTE = ("#4C72B0", "#55A868", "#C44E52", "#8172B2", "#CCB974", "#64B5CD", "#937860")
STAGES = (
    ("Targeted", "targeted"),
    ("Sent", "sent"),
    ("Read (inferred)", "read"),
    ("Clicked", "clicked"),
    ("Converted", "converted"),
)
# The chart box is a phone's height; more steps than this would be bars too thin to read
# (the table below the chart has them all).
MAX_STEPS = 12


def funnel_chart(funnels: Mapping[str, FunnelCounts]) -> Chart:
    """Each stage of the funnel, one bar per `target/variant` (all runs added up)."""
    datasets = [
        {
            "label": name,
            "data": [getattr(counts, field) for _, field in STAGES],
            "backgroundColor": PALETTE[number % len(PALETTE)],
        }
        for number, (name, counts) in enumerate(funnels.items())
    ]
    return _bars([label for label, _ in STAGES], datasets, legend=len(datasets) > 1)


def journey_chart(report: JourneyReport) -> Chart:
    """Per step (the first MAX_STEPS): entries that reached it, were sent its message,
    clicked, and converted; the colours of the journey's PNG (journeys.reports.chart)."""
    steps = report.steps[:MAX_STEPS]
    values = (
        [row.places.reached for row in steps],
        [row.messages.sent for row in steps],
        [row.messages.clicked for row in steps],
        [row.places.converted for row in steps],
    )
    datasets = [
        {"label": label, "data": data, "backgroundColor": colour}
        for (label, colour), data in zip(SERIES, values, strict=True)
    ]
    return _bars([row.step for row in steps], datasets, legend=True)


def _bars(labels: list[str], datasets: list[dict[str, Any]], *, legend: bool) -> Chart:
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "indexAxis": "y",
            "plugins": {"legend": {"display": legend, "position": "bottom"}},
            "scales": {"x": {"beginAtZero": True, "ticks": {"precision": 0}}},
        },
    }
