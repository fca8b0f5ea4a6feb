"""FSM storage: Redis when SEGBOT_REDIS_URL is set (a wizard survives a bot restart or
moves between bot processes), process memory otherwise."""

import os
import random

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage

from bot.admin.storage import fsm_storage
from core.settings import load_settings

REDIS_URL = os.environ.get("SEGBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_memory_without_redis() -> None:
    assert isinstance(fsm_storage(load_settings()), MemoryStorage)


async def test_memory_keeps_only_chats_with_a_state_or_data() -> None:
    """The state is read for every update: reading must not keep a record of every chat
    that ever wrote to the bot."""
    storage = fsm_storage(load_settings())
    assert isinstance(storage, MemoryStorage)
    passers_by = [StorageKey(bot_id=1, chat_id=n, user_id=n) for n in range(100)]
    for key in passers_by:
        assert await storage.get_state(key) is None
        assert await storage.get_data(key) == {}
        assert await storage.get_value(key, "draft", "none") == "none"
    wizard = StorageKey(bot_id=1, chat_id=42, user_id=42)
    await storage.set_state(wizard, "Broadcast:message")
    await storage.set_data(wizard, {"draft": {"name": "autumn"}})
    assert await storage.get_state(wizard) == "Broadcast:message"
    assert await storage.get_value(wizard, "draft") == {"name": "autumn"}
    assert list(storage.storage) == [wizard]

    await storage.set_state(wizard, None)
    assert await storage.get_data(wizard) == {"draft": {"name": "autumn"}}  # data stays
    await storage.set_data(wizard, {})
    assert not storage.storage


async def test_redis_keeps_the_wizard_between_storages() -> None:
    chat = random.randrange(10**9, 10**10)  # noqa: S311  (a key no other run shares)
    key = StorageKey(bot_id=1, chat_id=chat, user_id=chat)
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
