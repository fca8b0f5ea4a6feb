"""Where aiogram keeps conversation state (the broadcast wizard's steps and draft):
Redis when `SEGBOT_REDIS_URL` is set, so any bot process can carry on a wizard another
started, else process memory. Abandoned wizards expire after a day."""

from datetime import timedelta

from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage

from core.settings import Settings

STATE_TTL = timedelta(days=1)


def fsm_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url is None:
        return MemoryStorage()
    from aiogram.fsm.storage.redis import RedisStorage  # needs the optional redis package

    return RedisStorage.from_url(
        settings.redis_url.get_secret_value(), state_ttl=STATE_TTL, data_ttl=STATE_TTL
    )
