"""Anti-flood buckets: a flooding user is cut off while others go through, in process and
shared through Redis (where two bot processes see one bucket per user)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram.types import TelegramObject, User
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.flood import Buckets, LocalBuckets, RedisBuckets
from bot.middlewares import ThrottleMiddleware

REDIS_URL = "redis://127.0.0.1:6379/0"
RATE = 0.1  # tokens a second: one refilled in the ten seconds a busy machine may take


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


async def flood(throttle: ThrottleMiddleware, times: int, user_id: int) -> int:
    handled = 0

    async def handler(_event: TelegramObject, _data: dict[str, Any]) -> None:
        nonlocal handled
        handled += 1

    user = User(id=user_id, is_bot=False, first_name="U")
    for _ in range(times):
        await throttle(handler, TelegramObject(), {"event_from_user": user})
    return handled


async def check_cut_off(buckets: Buckets) -> None:
    throttle = ThrottleMiddleware(buckets)
    flooder_handled = await flood(throttle, 50, user_id=1)
    assert flooder_handled <= 6  # the burst, and at most one token refilled meanwhile
    assert await flood(throttle, 1, user_id=2) == 1
    assert throttle.dropped == 50 - flooder_handled


async def test_in_process_buckets_cut_a_flooder_off() -> None:
    await check_cut_off(LocalBuckets(rate=RATE, burst=5))


async def test_owners_are_never_throttled() -> None:
    throttle = ThrottleMiddleware(LocalBuckets(rate=RATE, burst=5), exempt=(1,))
    assert await flood(throttle, 50, user_id=1) == 50


async def test_redis_buckets_cut_a_flooder_off(redis: Redis) -> None:
    await check_cut_off(RedisBuckets(redis, rate=RATE, burst=5, prefix=f"test:{uuid.uuid4()}:"))


async def test_two_processes_share_one_bucket_per_user(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4()}:"
    first = ThrottleMiddleware(RedisBuckets(redis, rate=RATE, burst=5, prefix=prefix))
    second = ThrottleMiddleware(RedisBuckets(redis, rate=RATE, burst=5, prefix=prefix))
    handled = await flood(first, 5, user_id=1) + await flood(second, 5, user_id=1)
    assert handled <= 6


async def test_redis_buckets_read_a_key_with_the_token(redis: Redis) -> None:
    prefix = f"test:{uuid.uuid4()}:"
    buckets = RedisBuckets(redis, rate=0.001, burst=1, prefix=prefix)
    key = f"{prefix}state"
    assert await buckets.admit_reading(1, key) == (True, None)
    await redis.set(key, "Broadcast:name", px=60_000)
    try:
        assert await buckets.admit_reading(1, key) == (False, "Broadcast:name")
        assert await buckets.admit_reading(2, key) == (True, "Broadcast:name")
    finally:
        await redis.delete(key)


async def test_calls_at_once_share_round_trips_and_each_takes_its_own_token(
    redis: Redis,
) -> None:
    buckets = RedisBuckets(redis, rate=0.001, burst=5, prefix=f"test:{uuid.uuid4()}:")
    one_user = await asyncio.gather(*(buckets.admit(1) for _ in range(20)))
    assert sum(one_user) == 5
    assert one_user[:5] == [True] * 5  # in the order they were made
    many_users = await asyncio.gather(*(buckets.admit(user) for user in range(2, 52)))
    assert all(many_users)
    not_a_string = f"test:{uuid.uuid4()}:hash"
    await redis.hset(not_a_string, "field", "value")
    try:  # a call that fails fails alone
        answers = await asyncio.gather(
            buckets.admit(60), buckets.admit_reading(61, not_a_string), return_exceptions=True
        )
    finally:
        await redis.delete(not_a_string)
    assert answers[0] is True
    assert isinstance(answers[1], ResponseError)
