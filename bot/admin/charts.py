"""Charts for the admin console, as PNG bytes to send as photos.

matplotlib's object API on the Agg canvas: no pyplot, no display, no global state, so a
chart can be drawn in a worker thread (`render`) while the bot goes on. Sized and
lettered for a phone screen: one idea per chart, large labels, values written on bars.
"""

import asyncio
import io
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

WIDTH, HEIGHT, DPI = 7.0, 4.6, 160
ACCENT, MUTED = "#2b7bb9", "#9bbbd4"
STYLE: dict[Any, Any] = {  # matplotlib rc parameters
    "font.size": 12,
    "axes.titlesize": 15,
    "axes.titleweight": "bold",
    "axes.labelsize": 12,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


async def render(draw: Callable[[], bytes]) -> bytes:
    """Draw off the event loop (a chart takes tens of milliseconds)."""
    return await asyncio.to_thread(draw)


def _figure(height: float = HEIGHT) -> Figure:
    with mpl.rc_context(STYLE):
        return Figure(figsize=(WIDTH, height), dpi=DPI, layout="constrained")


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", facecolor="white")
    return buffer.getvalue()


def _styled(axes: Axes, title: str) -> None:
    axes.set_title(title, loc="left", fontsize=STYLE["axes.titlesize"], fontweight="bold")
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def bars(
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    xlabel: str,
    highlight: Sequence[float] | None = None,
    highlight_label: str | None = None,
) -> bytes:
    """Horizontal bars, first label on top, each with its value; an optional second
    series (`highlight`, e.g. buyers among subscribers) drawn over the first."""
    with mpl.rc_context(STYLE):
        figure = _figure(max(2.6, 1.2 + 0.55 * len(labels)))
        axes = figure.add_subplot()
        positions = list(range(len(labels)))[::-1]
        drawn = axes.barh(positions, values, color=MUTED if highlight else ACCENT, label=xlabel)
        if highlight is not None:
            axes.barh(positions, highlight, color=ACCENT, height=0.5, label=highlight_label)
            axes.legend(loc="lower right", frameon=False)
        axes.bar_label(drawn, labels=[_number(value) for value in values], padding=4)
        axes.set_yticks(positions, labels=list(labels))
        axes.set_xlabel(xlabel)
        axes.margins(x=0.15)
        _styled(axes, title)
        return _png(figure)


def line(title: str, moments: Sequence[datetime], values: Sequence[float], *, ylabel: str) -> bytes:
    """A series over time, each point marked, the latest value written at its end."""
    with mpl.rc_context(STYLE):
        figure = _figure()
        axes = figure.add_subplot()
        times: Any = list(moments)  # matplotlib converts datetimes; its stubs do not say so
        axes.plot(times, list(values), color=ACCENT, marker="o", linewidth=2.2)
        if values:
            axes.annotate(
                _number(values[-1]),
                (times[-1], values[-1]),
                textcoords="offset points",
                xytext=(0, 8),
                ha="center",
                fontweight="bold",
            )
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        formatter = ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_formatter(formatter)
        axes.set_ylabel(ylabel)
        axes.set_ylim(bottom=0, top=max([*values, 1]) * 1.2)
        axes.grid(axis="y", alpha=0.3)
        _styled(axes, title)
        return _png(figure)


def heatmap(
    title: str,
    grid: Sequence[Sequence[int]],
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    row_label: str,
    column_label: str,
) -> bytes:
    """A grid of counts, darker for more, each cell's count written in it."""
    with mpl.rc_context(STYLE):
        figure = _figure(5.6)
        axes = figure.add_subplot()
        image = axes.imshow(grid, cmap="Blues", origin="lower", aspect="auto")
        peak = max((max(row) for row in grid), default=0)
        for y, row in enumerate(grid):
            for x, value in enumerate(row):
                dark = peak > 0 and value > peak * 0.6
                axes.text(
                    x,
                    y,
                    _number(value),
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                    fontsize=12,
                )
        axes.set_xticks(range(len(columns)), labels=list(columns))
        axes.set_yticks(range(len(rows)), labels=list(rows))
        axes.set_xlabel(column_label)
        axes.set_ylabel(row_label)
        figure.colorbar(image, ax=axes, shrink=0.8, label="customers")
        _styled(axes, title)
        return _png(figure)


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


Panel = tuple[str, Sequence[str], Sequence[float]]  # title, labels, values


def panels(title: str, parts: Sequence[Panel]) -> bytes:
    """Several small horizontal bar charts stacked, under one title (a dashboard)."""
    with mpl.rc_context(STYLE):
        heights = [max(1.0, 0.45 * len(labels)) + 0.7 for _, labels, _ in parts]
        figure = _figure(sum(heights) + 0.8)
        figure.suptitle(title, fontsize=16, fontweight="bold", x=0.02, ha="left")
        for axes, (name, labels, values) in zip(
            figure.subplots(len(parts), 1, height_ratios=heights), parts, strict=True
        ):
            positions = list(range(len(labels)))[::-1]
            drawn = axes.barh(positions, values, color=ACCENT)
            axes.bar_label(drawn, labels=[_number(value) for value in values], padding=4)
            axes.set_yticks(positions, labels=list(labels))
            axes.margins(x=0.18)
            axes.tick_params(axis="x", labelbottom=False, length=0)
            axes.spines["bottom"].set_visible(False)
            _styled(axes, name)
        return _png(figure)
