"""Send slots in Redis: two sender processes (two stores on the same keys) share one rate
and one pause. Checked on the reservations, not on a stopwatch."""

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from broadcasts.shared_pacing import RedisSlots

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def two_senders() -> AsyncIterator[tuple[RedisSlots, RedisSlots]]:
    client = Redis.from_url(REDIS_URL)
    prefix = f"test:{uuid.uuid4()}:"
    yield RedisSlots(client, prefix=prefix), RedisSlots(client, prefix=prefix)
    await client.aclose()


async def test_two_senders_take_turns_in_one_sequence_of_slots(
    two_senders: tuple[RedisSlots, RedisSlots],
) -> None:
    waits = [await two_senders[k % 2].reserve("free", 1.0, 0) for k in range(6)]
    for k, wait in enumerate(waits):  # slot k is k seconds after the first, whoever took it
        assert k - 0.5 < wait <= k


async def test_a_pause_from_one_sender_holds_the_other(
    two_senders: tuple[RedisSlots, RedisSlots],
) -> None:
    first, second = two_senders
    await first.pause(30)
    await first.pause(5)  # a shorter retry_after never shortens the pause
    assert 29 < await second.paused_for() <= 30
    assert 29 < await second.reserve("free", 0.04, 0.05) <= 30
    assert 29 < await second.reserve("paid", 0.001, 0.05) <= 30


async def test_lanes_keep_their_own_slots(two_senders: tuple[RedisSlots, RedisSlots]) -> None:
    slots, _ = two_senders
    assert await slots.reserve("free", 1.0, 0) <= 0
    assert await slots.reserve("paid", 1.0, 0) <= 0  # another lane: free now too
    assert 0.5 < await slots.reserve("free", 1.0, 0) <= 1.0
    assert await slots.paused_for() == 0
