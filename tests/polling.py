"""Waiting for what lands asynchronously and raises no event to await: a message the
emulator received, an edit, a line in a process's log, a row the bot wrote. Every test
that waits for such a thing polls through `until`."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable

WITHIN = 10.0  # seconds: room for a loaded two-core machine
EVERY = 0.05  # seconds between two looks


async def until(
    check: Callable[[], bool | Awaitable[bool]],
    *,
    what: str,
    within: float = WITHIN,
    every: float = EVERY,
) -> None:
    """Return as soon as `check()` (a function or a coroutine function) holds; look again
    every `every` seconds. After `within` seconds raise TimeoutError naming `what`."""
    deadline = asyncio.timeout(within)
    try:
        async with deadline:
            while True:
                found = check()
                if await found if inspect.isawaitable(found) else found:
                    return
                await asyncio.sleep(every)
    except TimeoutError as timeout:
        if not deadline.expired():
            raise  # a TimeoutError of the check's own
        raise TimeoutError(f"waited {within:g} s for {what}, in vain") from timeout
