"""FSM storage: Redis when SEGBOT_REDIS_URL is set (a wizard survives a bot restart or
moves between bot processes), process memory otherwise."""

import os

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from bot.admin.storage import fsm_storage
from core.settings import load_settings

REDIS_URL = os.environ.get("SEGBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_memory_without_redis() -> None:
    assert isinstance(fsm_storage(load_settings()), MemoryStorage)


async def test_redis_keeps_the_wizard_between_storages() -> None:
    key = StorageKey(bot_id=1, chat_id=42, user_id=42)
    first = fsm_storage(load_settings(redis_url=REDIS_URL))
    assert isinstance(first, RedisStorage)
    try:
        await first.redis.ping()
    except OSError:
        await first.close()
        pytest.skip(f"no Redis at {REDIS_URL}")
    try:
        await first.set_state(key, "Broadcast:message")
        await first.set_data(key, {"draft": {"name": "autumn"}})
        second = fsm_storage(load_settings(redis_url=REDIS_URL))
        try:
            assert await second.get_state(key) == "Broadcast:message"
            assert await second.get_data(key) == {"draft": {"name": "autumn"}}
        finally:
            await second.close()
        await first.set_state(key, None)
        await first.set_data(key, {})
    finally:
        await first.close()
