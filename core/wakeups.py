"""Loops that sleep until they are woken or their period passes, until cancelled.

`woken_within(event, seconds)` is the one way such a loop waits. It is not
`asyncio.wait_for(event.wait(), seconds)`: on Python 3.11, when the event is set in the same
moment the waiting task is cancelled, `wait_for` returns as if woken and the cancellation
is lost, so a loop around it never stops (the webhook inbox did this when an update was
stored just as the bot stopped: `segbot run` then hung on shutdown). `asyncio.timeout`
delivers the cancellation however the two coincide. Lint (ruff's banned-api, in
pyproject.toml) refuses `asyncio.wait_for` outside the tests.

A process that stops gives the work in hand `STOP_GRACE` seconds to finish
(`finish_within`): the updates the bot is handling, in polling and webhook mode alike.

A loop that outlives failures (it logs them and goes on) calls `end_if_stopping` first in
its `except`. Cleaning up after a cancellation can fail in its turn (a write in a `finally`
the database refuses), and that error then replaces the cancellation: without the check the
loop takes it for one more failure and goes on after the process was told to stop (the
delivery worker did this with SQLite locked: `segbot run` did not stop).
"""

import asyncio
import logging
from contextlib import suppress

STOP_GRACE = 10.0  # seconds the updates being handled get to finish when the bot stops


async def finish_within(tasks: set[asyncio.Task[None]], seconds: float) -> None:
    """Let `tasks` finish; cancel those still running after `seconds`, and wait for them."""
    if not tasks:
        return
    _, late = await asyncio.wait(set(tasks), timeout=seconds)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)


async def woken_within(event: asyncio.Event, seconds: float) -> bool:
    """Wait until `event` is set, `seconds` at most; whether it is set."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def end_if_stopping(logger: logging.Logger, what: str) -> None:
    """In an `except` clause: if the task running it was cancelled, log the error being
    handled as "`what` failed while stopping" on `logger` and raise CancelledError, so the
    stop goes on; else return, and the loop deals with the error as it does."""
    task = asyncio.current_task()
    if task is not None and task.cancelling() > 0:
        logger.exception("%s failed while stopping", what)
        raise asyncio.CancelledError from None
