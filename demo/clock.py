"""The demo's clock: the system clock, moved ahead on demand. `segbot demo` runs the bot
on it, so a step can let a day pass in a moment (a journey's waits) while everything
else keeps real time's pace."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.clock import utcnow


@dataclass
class DemoClock:
    ahead: timedelta = timedelta(0)  # how far the demo's time runs ahead of the system's

    def __call__(self) -> datetime:
        return utcnow() + self.ahead

    def jump(self, by: timedelta) -> None:
        """Let `by` pass at once."""
        self.ahead += by
