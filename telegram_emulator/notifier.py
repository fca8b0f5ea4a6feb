"""Wake waiters when something changed, so waits are event-driven rather than sleep loops."""

import asyncio
from collections.abc import Callable


class Notifier:
    """A broadcast "something changed" signal; waiters re-check their own condition."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        """Return once `condition()` holds (wrap in `asyncio.timeout` to bound the wait)."""
        while not condition():
            await self._event.wait()
