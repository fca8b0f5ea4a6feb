"""Time, always timezone-aware UTC. Code that needs "now" takes a Clock so tests can fix it."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system clock, as the default Clock."""
    return datetime.now(UTC)
