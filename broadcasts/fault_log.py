"""Send faults in the log, bursts summarised: the first fault of a kind is logged at once,
those of the same kind within the next second are counted, and the count comes as one
line when the second is over (`flush`, called a few times a second by the sender) or
with the next line of that kind. A storm of 500 timeouts is a few lines, not 500.

Lines name deliveries and runs by id only: never a name, a chat id or a message text.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Kind:
    level: int
    logged_at: float  # when its last line went out
    held: int = 0  # faults counted since, not logged
    last: str = ""  # the latest of them


class FaultLog:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        every: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._every = every
        self._monotonic = monotonic
        self._kinds: dict[str, _Kind] = {}

    def note(self, kind: str, level: int, text: str) -> None:
        """A fault of `kind` ("timeout", "429", ...), described by `text`."""
        now = self._monotonic()
        state = self._kinds.get(kind)
        if state is not None and now - state.logged_at < self._every:
            state.held += 1
            state.last = text
            return
        held = f" ({state.held} more {kind} before it)" if state is not None and state.held else ""
        self._kinds[kind] = _Kind(level, now)
        self._logger.log(level, "%s%s", text, held)

    def flush(self, *, everything: bool = False) -> None:
        """Log the counts of the kinds whose second is over (`everything`: of every kind)."""
        now = self._monotonic()
        for kind, state in self._kinds.items():
            if state.held and (everything or now - state.logged_at >= self._every):
                self._logger.log(
                    state.level,
                    "%d more %s in %.1f s; the last: %s",
                    state.held,
                    kind,
                    now - state.logged_at,
                    state.last,
                )
                state.held, state.logged_at = 0, now
