"""Where aiogram keeps conversation state (the broadcast wizard's steps and draft):
Redis when `SEGBOT_REDIS_URL` is set, so any bot process can carry on a wizard another
started, else process memory (`MemoryStates`). Abandoned wizards expire after a day in
Redis; in memory they last until the process ends."""

from collections.abc import Mapping
from copy import copy
from datetime import timedelta
from typing import Any

from aiogram.fsm.storage.base import BaseStorage, StateType, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage

from bot.redis_outage import TIMEOUTS
from core.settings import Settings

STATE_TTL = timedelta(days=1)


def fsm_storage(settings: Settings) -> BaseStorage:
    if settings.redis_url is None:
        return MemoryStates()
    from aiogram.fsm.storage.redis import RedisStorage  # needs the optional redis package

    return RedisStorage.from_url(
        settings.redis_url.get_secret_value(),
        connection_kwargs=dict(TIMEOUTS),
        state_ttl=STATE_TTL,
        data_ttl=STATE_TTL,
    )


class MemoryStates(MemoryStorage):
    """aiogram's MemoryStorage, except that a chat has a record only while it has a state
    or data. aiogram's creates an empty record for every chat it is asked about, and the
    state is read for every update, so it kept one for every chat that ever wrote to the
    bot, for good."""

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await super().set_state(key, state)
        self._drop_if_empty(key)

    async def get_state(self, key: StorageKey) -> str | None:
        record = self.storage.get(key)
        return None if record is None else record.state

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await super().set_data(key, data)
        self._drop_if_empty(key)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        record = self.storage.get(key)
        return {} if record is None else record.data.copy()

    async def get_value(
        self, storage_key: StorageKey, dict_key: str, default: Any | None = None
    ) -> Any | None:
        record = self.storage.get(storage_key)
        return default if record is None else copy(record.data.get(dict_key, default))

    def _drop_if_empty(self, key: StorageKey) -> None:
        record = self.storage.get(key)
        if record is not None and record.state is None and not record.data:
            del self.storage[key]
