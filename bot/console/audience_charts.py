"""The audience page's panels: each one chart, described as a Chart.js config for
console.js to draw, with the same counts in a table beside it, so every number is on the
page as text too (for screen readers, and for copying). Built from what the chat
console's `/stats`, `/ladder` and `/rfm` read; nothing here queries."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from bot.admin.monospace import percent
from broadcasts.reports import AudienceStats
from segments.ladder import StageCount

# Telegram's light-theme colours (console.css's fallbacks): a canvas cannot read CSS
# variables, and these read well on the dark theme too.
BLUE, GREEN, RED = "#2481cc", "#31b545", "#d14e4e"

Row = tuple[str, ...]  # the label, then the counts, formatted


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    chart: dict[str, Any]  # a Chart.js config
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    note: str = ""  # under the table: what the counts leave out


def _bars(
    labels: Sequence[str], datasets: Sequence[dict[str, Any]], *, horizontal: bool = False
) -> dict[str, Any]:
    return {
        "type": "bar",
        "data": {"labels": list(labels), "datasets": list(datasets)},
        "options": {
            "indexAxis": "y" if horizontal else "x",
            "plugins": {"legend": {"display": len(datasets) > 1, "position": "bottom"}},
            "scales": {
                ("x" if horizontal else "y"): {"beginAtZero": True, "ticks": {"precision": 0}}
            },
        },
    }


def _series(label: str, values: Sequence[int], colour: str) -> dict[str, Any]:
    return {"label": label, "data": list(values), "backgroundColor": colour}


def _count(value: int) -> str:
    return f"{value:,}"


def growth_panel(daily: pd.DataFrame, *, days: int) -> Panel:
    """Joined and left per day (broadcasts.reports.trends.subscribers_by_day), with the
    audience's net change since the period began as a line; the table lists the days
    anything happened."""
    labels = [f"{day:%d %b}" for day in daily["day"]]
    joined, left, net = (daily[column].astype(int).tolist() for column in ("joined", "left", "net"))
    since = daily["net"].astype(int).cumsum().tolist()
    chart = _bars(
        labels,
        [
            _series("joined", joined, GREEN),
            _series("left", left, RED),
            {"type": "line", "label": f"net change since {labels[0]}", "data": since,
             "borderColor": BLUE, "backgroundColor": BLUE, "pointRadius": 0},
        ],
    )  # fmt: skip
    chart["options"]["scales"] = {
        "x": {"ticks": {"maxRotation": 0, "autoSkip": True, "maxTicksLimit": 6}},
        "y": {"ticks": {"precision": 0}},
    }
    rows = tuple(
        (f"{day:%Y-%m-%d}", _count(came), _count(went), f"{change:+,}")
        for day, came, went, change in zip(daily["day"], joined, left, net, strict=True)
        if came or went
    )
    return Panel(
        f"Joined and left per day, last {days} days",
        chart,
        ("day", "joined", "left", "net"),
        rows,
        note="Days when nobody joined or left are not listed."
        if rows
        else "Nobody joined or left.",
    )


def figures(stats: AudienceStats) -> tuple[tuple[str, str], ...]:
    """The audience at a glance (`/stats`' first lines): subscribers by status, and the
    net growth of each period."""
    return (
        ("subscribers", _count(stats.total)),
        *((status, _count(count)) for status, count in stats.by_status.items()),
        *((f"net, {growth.days} days", f"{growth.net:+,}") for growth in stats.growth),
    )


def sources_panel(stats: AudienceStats) -> Panel:
    labels = [source for source, _ in stats.sources]
    counts = [count for _, count in stats.sources]
    return Panel(
        "Where they came from",
        _bars(labels, [_series("subscribers", counts, BLUE)], horizontal=True),
        ("source", "subscribers", "share"),
        tuple((s, _count(n), percent(n, stats.total)) for s, n in stats.sources),
        note="The first touch of each subscriber, the most common sources.",
    )


def activity_panel(stats: AudienceStats) -> Panel:
    labels, counts = list(stats.activity), list(stats.activity.values())
    return Panel(
        "Activity of active subscribers",
        _bars(labels, [_series("subscribers", counts, BLUE)]),
        ("level", "subscribers", "share"),
        tuple((level, _count(n), percent(n, stats.active)) for level, n in stats.activity.items()),
    )


def ladder_panel(stages: Sequence[StageCount]) -> Panel:
    labels = [stage.stage for stage in stages]
    chart = _bars(
        labels,
        [
            _series("subscribers", [stage.subscribers for stage in stages], BLUE),
            _series("buyers", [stage.buyers for stage in stages], GREEN),
        ],
        horizontal=True,
    )
    return Panel(
        "Ladder of awareness",
        chart,
        ("stage", "subscribers", "buyers"),
        tuple((s.stage, _count(s.subscribers), _count(s.buyers)) for s in stages),
    )


def rfm_panel(counts: Mapping[str, int], names: Sequence[str], *, as_of: date | None) -> Panel:
    """Customers per RFM segment, in the segment map's order, the empty ones left out."""
    present = [(name, counts[name]) for name in names if counts.get(name, 0)]
    total = sum(counts.values())
    day = "" if as_of is None else f" as of {as_of}"
    return Panel(
        "RFM segments",
        _bars([n for n, _ in present], [_series("customers", [c for _, c in present], BLUE)],
              horizontal=True),
        ("segment", "customers", "share"),
        tuple((name, _count(count), percent(count, total)) for name, count in present),
        note=f"{total:,} customers scored{day}.",
    )  # fmt: skip
