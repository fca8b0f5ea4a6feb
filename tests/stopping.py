"""Stopping a `segbot run` that a test started in its own event loop.

`stop` cancels it and waits for it to close everything. A part that ignores the
cancellation would otherwise keep the test waiting until pytest's timeout, whose dump
shows only idle threads; instead the test fails within STOPS_WITHIN seconds, saying where
each task of the loop is waiting (how the lost cancellation in `core/wakeups.py` was found).
`fail_when_cancelled` is work whose cleanup fails as it stops, for the loops that must stop
all the same.
"""

import asyncio
from typing import NoReturn

import pytest

STOPS_WITHIN = 60.0  # seconds: closing takes a few on a loaded two-core machine


async def stop(run: asyncio.Task[None]) -> None:
    """Cancel `run` and wait until it has stopped (what it raised, if anything, is dropped)."""
    run.cancel()
    done, _ = await asyncio.wait({run}, timeout=STOPS_WITHIN)
    if not done:
        pytest.fail(
            f"segbot run did not stop within {STOPS_WITHIN:g} s of being cancelled; "
            f"the tasks are waiting here:\n{_where_tasks_wait()}"
        )
    await asyncio.gather(run, return_exceptions=True)


async def fail_when_cancelled(started: asyncio.Event) -> NoReturn:
    """Set `started`, wait until cancelled, then fail as cleaning up after a cancellation
    can (a write the database refuses): the error replaces the cancellation."""
    started.set()
    never: asyncio.Future[NoReturn] = asyncio.get_running_loop().create_future()
    try:
        await never
    except asyncio.CancelledError:
        raise RuntimeError("database is locked") from None


def _where_tasks_wait() -> str:
    """Each pending task, with the line its coroutine waits at (its repr says)."""
    return "\n".join(sorted(f"- {task!r}" for task in asyncio.all_tasks()))
