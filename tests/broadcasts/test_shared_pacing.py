"""Send slots in Redis: two sender processes (two stores on the same keys) share one
spacing and one pause. The property runs on a virtual clock that the stores share."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from hypothesis import given, settings
from redis.asyncio import Redis

from broadcasts.pacing import MARGIN, START_AFTER, RateBudget
from broadcasts.shared_pacing import PAUSE_NEWS, RedisSlots
from tests.broadcasts.test_pacing import (
    VirtualClock,
    assert_no_window_exceeds,
    pauses,
    rates,
    send_all,
    send_now,
    sends,
    stalls,
)

REDIS_URL = "redis://127.0.0.1:6379/15"


@asynccontextmanager
async def two_senders(
    clock: VirtualClock | None = None,
) -> AsyncIterator[tuple[RedisSlots, RedisSlots]]:
    """Two stores on the same fresh keys, each with a client of its own (two processes),
    on Redis's clock or on the virtual one."""
    prefix = f"test:pacing:{uuid.uuid4()}:"
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    clocks = {} if clock is None else {"now": clock.monotonic, "monotonic": clock.monotonic}
    try:
        yield (
            RedisSlots(first, prefix=prefix, **clocks),
            RedisSlots(second, prefix=prefix, **clocks),
        )
    finally:
        keys = [key async for key in first.scan_iter(match=f"{prefix}*")]
        if keys:
            await first.delete(*keys)
        await first.aclose()
        await second.aclose()


@settings(max_examples=60, deadline=None)
@given(rate=rates, paid_rate=rates, stalls=stalls, sends=sends, pauses=pauses)
async def test_two_senders_sharing_redis_never_exceed_the_rate_together(
    rate: float,
    paid_rate: float,
    stalls: list[float],
    sends: list[tuple[float, bool]],
    pauses: list[tuple[float, float]],
) -> None:
    clock = VirtualClock(stalls)
    async with two_senders(clock) as stores:
        budgets = [
            RateBudget(
                rate,
                paid_per_second=paid_rate,
                monotonic=clock.monotonic,
                sleep=clock.sleep,
                slots=slots,
            )
            for slots in stores
        ]
        handed = await send_all(clock, budgets, sends, pauses, heard_within=PAUSE_NEWS)
    assert_no_window_exceeds((handed[False], rate), (handed[True], paid_rate))
    assert len(handed[False]) + len(handed[True]) == len(sends)


async def wait_for(slots: RedisSlots, lane: str, interval: float) -> float:
    """Seconds until the slot reserved, at the latest (on Redis's own clock)."""
    _, latest = await slots.reserve(lane, interval)
    return latest - time.monotonic()


async def test_two_senders_take_turns_in_one_sequence_of_slots() -> None:
    # Slots 10 s apart: each wait tells its slot from the next, however long a busy
    # machine takes between two reservations
    async with two_senders() as stores:
        waits = [await wait_for(stores[k % 2], "free", 10.0) for k in range(6)]
    for k, wait in enumerate(waits):  # slot k is 10k s after the first, whoever took it
        assert START_AFTER + 10 * k - 5 < wait <= START_AFTER + 10 * k + 0.05


async def test_a_pause_from_one_sender_holds_the_other() -> None:
    async with two_senders() as (first, second):
        await first.pause(30)
        await first.pause(5)  # a shorter retry_after never shortens the pause
        assert 29 < await second.paused_until() - time.monotonic() <= 30.05
        assert 29 < await wait_for(second, "free", 0.04) <= 30.05
        assert 29 < await wait_for(second, "paid", 0.001) <= 30.05


async def test_a_pause_is_heard_within_the_news_interval() -> None:
    clock = VirtualClock()
    async with two_senders(clock) as (first, second):
        assert await second.paused_until() <= clock.now  # heard: no pause
        clock.now += PAUSE_NEWS / 2
        await first.pause(10)
        paused_at = clock.now
        assert await first.paused_until() == pytest.approx(paused_at + 10)  # at once, here
        assert await second.paused_until() <= clock.now  # not heard yet
        clock.now += PAUSE_NEWS
        assert await second.paused_until() == pytest.approx(paused_at + 10)


async def test_lanes_keep_their_own_slots_and_start_a_second_late() -> None:
    clock = VirtualClock()
    async with two_senders(clock) as (slots, _):
        assert await slots.reserve("free", 1.0) == (1001.0, 1001.0)  # the last second unknown
        assert await slots.reserve("paid", 1.0) == (1001.0, 1001.0)  # another lane, its own
        assert await slots.reserve("free", 1.0) == (1002.0, 1002.0)
        clock.now += 10.0  # idle: the next slot is now, the lane's memory says it may be
        assert await slots.reserve("free", 1.0) == (1010.0, 1010.0)


async def test_the_sends_of_a_batch_get_consecutive_slots() -> None:
    clock = VirtualClock()
    async with two_senders(clock) as (slots, _):
        reserved = await asyncio.gather(*(slots.reserve("free", 0.5) for _ in range(4)))
    assert reserved == [(1001.0 + k / 2, 1001.0 + k / 2) for k in range(4)]


async def test_a_budget_on_redis_spaces_its_sends_by_the_margin() -> None:
    clock = VirtualClock()
    async with two_senders(clock) as (slots, _):
        budget = RateBudget(10, monotonic=clock.monotonic, sleep=clock.sleep, slots=slots)
        await clock.run(*(send_now(budget, chat) for chat in range(11)))
    assert clock.now == pytest.approx(1000.0 + START_AFTER + 10 * (1 + MARGIN) / 10)
