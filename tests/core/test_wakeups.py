"""`woken_within`: how a loop that runs until cancelled waits for its next wake-up;
`end_if_stopping`: how one that outlives failures still stops."""

import asyncio
import logging

import pytest

from core.wakeups import end_if_stopping, woken_within
from tests.stopping import fail_when_cancelled, stop

logger = logging.getLogger(__name__)


async def test_it_is_woken_as_soon_as_the_event_is_set() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_soon(event.set)
    assert await woken_within(event, 3600)


async def test_it_says_so_when_the_time_passes_unwoken() -> None:
    assert not await woken_within(asyncio.Event(), 0.01)


async def test_a_cancellation_in_the_moment_of_the_wake_up_stops_the_loop() -> None:
    """The webhook inbox's case: an update stored just as the bot stops. With
    `asyncio.wait_for` (Python 3.11) the wake-up won and the loop ran on forever."""
    wake = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            await woken_within(wake, 3600)
            wake.clear()

    task = asyncio.create_task(loop())
    await asyncio.sleep(0)  # the loop runs to its first wait
    wake.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=30)
    assert task in done, "the cancellation was lost: the loop runs on"
    assert task.cancelled()
    assert rounds == 1


async def test_a_loop_that_outlives_failures_stops_when_one_replaces_its_cancellation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The delivery worker's case: settling what was in flight failed as it stopped, and
    the loop took the error for one more failure and went on."""
    started = asyncio.Event()
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            rounds += 1
            try:
                await fail_when_cancelled(started)
            except Exception:
                end_if_stopping(logger, "the round")

    task = asyncio.create_task(loop())
    await started.wait()
    with caplog.at_level(logging.ERROR, logger=logger.name):
        await stop(task)
    assert task.cancelled()
    assert rounds == 1
    assert "the round failed while stopping" in caplog.text
    assert "database is locked" in caplog.text  # the error is logged, not lost


async def test_a_failure_while_not_stopping_is_the_loops_to_deal_with() -> None:
    async def fails() -> None:
        try:
            raise RuntimeError("a bad moment of the database")
        except RuntimeError:
            end_if_stopping(logger, "the round")
            raise

    with pytest.raises(RuntimeError, match="a bad moment"):
        await fails()
