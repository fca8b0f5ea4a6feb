"""The FSM state of the chat an update comes from (the admin wizard's step), handed to
handlers and filters as aiogram hands it: `state` (the chat's `FSMContext`), `raw_state`
(the state's name, or None) and `fsm_storage`.

aiogram's own FSM middleware reads the state first thing on every update: a Redis round
trip of its own when the states live in Redis. segbot builds its Dispatcher without it and
installs `StateMiddleware` after the anti-flood throttle instead, which does the same work
with the Dispatcher's storage, strategy and event isolation, except that:

- an update the throttle drops reads no state (nothing would see it);
- when the flood buckets live in the same Redis as the states (one SEGBOT_REDIS_URL) and
  no event isolation is configured (with one, the state is read only under its lock), the
  throttle takes the user's token and reads the state in one round trip (`StatePrefetch`),
  and the middleware hands on that state (and the chat's context) instead of reading it
  again;
- without an event isolation, no lock is taken (aiogram's would do nothing).
"""

import logging
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.fsm.context import FSMContext
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import TelegramObject
from redis.asyncio import Redis

from bot.flood import RedisBuckets
from bot.redis_outage import UNANSWERED, RedisOutage

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]

# In an update's data, from the throttle to `StateMiddleware`: (the chat's context, its state).
_PREFETCHED = "segbot_prefetched_state"
# What names a Redis server (and database) in a client's connection settings.
_SERVER = ("host", "port", "path", "db")


class StateMiddleware(BaseMiddleware):
    """aiogram's FSM middleware for the Dispatcher's `fsm`, handing on the state the throttle
    read along with the user's flood token when it did (see the module's docstring)."""

    def __init__(self, fsm: FSMContextMiddleware) -> None:
        self._fsm = fsm
        # aiogram's default isolation, whose lock does nothing: no need to take it
        self._isolated = not isinstance(fsm.events_isolation, DisabledEventIsolation)
        self._outage = RedisOutage(logger, without="wizard steps unknown")

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        data["fsm_storage"] = self._fsm.storage
        prefetched: tuple[FSMContext, str | None] | None = data.pop(_PREFETCHED, None)
        if prefetched is not None:
            data.update({"state": prefetched[0], "raw_state": prefetched[1]})
            return await handler(event, data)
        bot: Bot = data["bot"]
        context = self._fsm.resolve_event_context(bot, data)
        if context is None:
            return await handler(event, data)
        lock = self._fsm.events_isolation.lock(key=context.key) if self._isolated else nullcontext()
        async with lock:
            data.update({"state": context, "raw_state": await self._state(context)})
            return await handler(event, data)

    async def _state(self, context: FSMContext) -> str | None:
        """The chat's state; none while Redis does not answer (bot/redis_outage.py)."""
        try:
            state = await context.get_state()
        except UNANSWERED as error:
            self._outage.failed(error)
            return None
        self._outage.answered()
        return state


class StatePrefetch:
    """Takes a user's token from the flood buckets and reads their chat's FSM state in the
    same Redis round trip, for `StateMiddleware` to hand on."""

    def __init__(
        self, buckets: RedisBuckets, fsm: FSMContextMiddleware, storage: RedisStorage
    ) -> None:
        self._buckets = buckets
        self._fsm = fsm
        self._storage = storage

    @classmethod
    def of(
        cls, buckets: RedisBuckets, redis: Redis, fsm: FSMContextMiddleware
    ) -> "StatePrefetch | None":
        """The prefetch for `buckets` (kept in `redis`) and the Dispatcher's `fsm`; None
        when the states are not in the same Redis server and database, or when an event
        isolation must lock before the state is read."""
        storage = fsm.storage
        if not isinstance(storage, RedisStorage) or not isinstance(
            fsm.events_isolation, DisabledEventIsolation
        ):
            return None
        if _server(storage.redis) != _server(redis):
            return None
        return cls(buckets, fsm, storage)

    async def admit(self, user_id: int, data: dict[str, Any]) -> bool:
        """`RedisBuckets.admit`, noting in `data` the state of the update's chat."""
        bot: Bot = data["bot"]
        context = self._fsm.resolve_event_context(bot, data)
        if context is None:
            return await self._buckets.admit(user_id)
        key = self._storage.key_builder.build(context.key, "state")
        admitted, raw_state = await self._buckets.admit_reading(user_id, key)
        data[_PREFETCHED] = (context, raw_state)
        return admitted


def _server(redis: Redis) -> tuple[object, ...]:
    settings = redis.connection_pool.connection_kwargs
    return tuple(settings.get(name) for name in _SERVER)
