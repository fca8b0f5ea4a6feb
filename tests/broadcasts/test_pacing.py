"""The rate budget, on a fake clock: spacing, 429 pauses and per-chat spacing."""

import asyncio
from itertools import pairwise

import pytest

from broadcasts.pacing import RateBudget


class FakeTime:
    """A monotonic clock that `asyncio.sleep` advances instead of waiting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.stall_next_sleep = 0.0  # the process stalls: the next sleep wakes this late
        real_sleep = asyncio.sleep

        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.now += seconds + self.stall_next_sleep
            self.stall_next_sleep = 0.0
            await real_sleep(0)

        monkeypatch.setattr("broadcasts.pacing.asyncio.sleep", sleep)

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    return FakeTime(monkeypatch)


async def test_slots_are_evenly_spaced(clock: FakeTime) -> None:
    budget = RateBudget(10, monotonic=clock)
    start = clock.now
    for chat in range(21):
        await budget.take(chat)
    # 21 slots 0.1 s apart, the first one early by the 0.05 s catch-up allowance
    assert clock.now - start == pytest.approx(1.95)


async def test_a_late_wake_up_does_not_bunch_the_sends_after_it(clock: FakeTime) -> None:
    budget = RateBudget(10, monotonic=clock)
    sent_at = []
    for chat in range(6):
        if chat == 2:
            clock.stall_next_sleep = 0.5
        await budget.take(chat)
        sent_at.append(clock.now)
    gaps = [later - earlier for earlier, later in pairwise(sent_at)]
    assert min(gaps) >= 0.1 - 0.05 - 1e-9  # the interval, less the catch-up allowance


async def test_a_pause_holds_every_send(clock: FakeTime) -> None:
    budget = RateBudget(10, monotonic=clock)
    await budget.take(1)
    await budget.pause(5)
    start = clock.now
    await budget.take(2)
    assert clock.now - start == pytest.approx(5.0)


async def test_the_same_chat_waits_for_its_spacing(clock: FakeTime) -> None:
    budget = RateBudget(100, chat_spacing=1.0, monotonic=clock)
    await budget.take(7)
    start = clock.now
    await budget.take(7)
    assert clock.now - start == pytest.approx(1.0)


def test_the_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateBudget(0)


async def test_the_paid_lane_runs_at_its_own_rate_and_a_pause_holds_it_too(
    clock: FakeTime,
) -> None:
    budget = RateBudget(10, paid_per_second=1000, catch_up=0, monotonic=clock)
    start = clock.now
    for chat in range(1001):
        await budget.take(chat, paid=True)
    assert clock.now - start == pytest.approx(1.0)
    await budget.pause(3)
    paused = clock.now
    await budget.take(5000, paid=True)
    assert clock.now - paused == pytest.approx(3.0)
    with pytest.raises(ValueError, match="no paid lane"):
        await RateBudget(10, monotonic=clock).take(1, paid=True)
