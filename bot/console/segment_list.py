"""The saved segments as the Segments page lists them (name, kind, members at the last
refresh, when, the rule cut short), and a segment's size history as a chart spec."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from segments.models import Segment, SegmentKind, SegmentSize
from segments.rules.errors import excerpt
from segments.saved import list_segments

LISTED = 100  # characters of each rule in the list, as the chat's /segments shows them


@dataclass(frozen=True, slots=True)
class SegmentRow:
    id: int
    name: str
    kind: str
    size: int | None  # None until its first refresh
    refreshed: str
    rule: str
    editable: bool  # a marketer's rule; generated segments are made by their generator


def when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


async def list_context(session: AsyncSession) -> dict[str, Any]:
    """What the list template takes: `segments`, a row each, by name."""
    rows = [_row(segment) for segment in await list_segments(session)]
    return {"segments": rows}


def _row(segment: Segment) -> SegmentRow:
    return SegmentRow(
        segment.id,
        segment.name,
        segment.kind.value,
        segment.size,
        when(segment.refreshed_at),
        excerpt(segment.rule_text, LISTED),
        segment.kind is SegmentKind.RULE,
    )


def size_chart(sizes: Sequence[SegmentSize]) -> dict[str, Any] | None:
    """A line of the members at each refresh (a Chart.js config), None before any."""
    if not sizes:
        return None
    return {
        "type": "line",
        "data": {
            "labels": [when(size.measured_at) for size in sizes],
            "datasets": [{"label": "members", "data": [size.size for size in sizes]}],
        },
        "options": {
            "plugins": {"legend": {"display": False}},
            "scales": {"y": {"beginAtZero": True, "ticks": {"precision": 0}}},
        },
    }
