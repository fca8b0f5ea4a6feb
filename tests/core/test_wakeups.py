"""`woken_within`: how a loop that runs until cancelled waits for its next wake-up."""

import asyncio

from core.wakeups import woken_within


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
