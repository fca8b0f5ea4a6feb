"""Loops that sleep until they are woken or their period passes, until cancelled.

`woken_within(event, seconds)` is the one way such a loop waits. It is not
`asyncio.wait_for(event.wait(), seconds)`: on Python 3.11, when the event is set in the same
moment the waiting task is cancelled, `wait_for` returns as if woken and the cancellation
is lost, so a loop around it never stops (the webhook inbox did this when an update was
stored just as the bot stopped: `segbot run` then hung on shutdown). `asyncio.timeout`
delivers the cancellation however the two coincide. Lint (ruff's banned-api, in
pyproject.toml) refuses `asyncio.wait_for` outside the tests.
"""

import asyncio
from contextlib import suppress


async def woken_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, `seconds` at most; whether it is set."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
