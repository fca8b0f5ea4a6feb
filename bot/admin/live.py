"""Messages that keep themselves current: a campaign's progress, edited while it sends.

Each followed message gets one task that calls its `refresh` every `every` seconds until
`refresh` answers False (nothing more will change) or `limit` seconds have passed.
Following a message again replaces its task. `close()` stops them all (bot shutdown).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiogram.exceptions import TelegramAPIError
from sqlalchemy.exc import SQLAlchemyError

from core.errors import SegbotError

logger = logging.getLogger(__name__)

Refresh = Callable[[], Awaitable[bool]]


class LiveProgress:
    def __init__(self, *, every: float = 1.0, limit: float = 3600.0) -> None:
        self._every = every
        self._limit = limit
        self._tasks: dict[tuple[int, int], asyncio.Task[None]] = {}

    def follow(self, chat_id: int, message_id: int, refresh: Refresh) -> None:
        key = (chat_id, message_id)
        previous = self._tasks.pop(key, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.create_task(self._keep_current(refresh), name=f"live:{chat_id}:{message_id}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._forget(key, done))

    @property
    def following(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_current(self, refresh: Refresh) -> None:
        try:
            async with asyncio.timeout(self._limit):
                while True:
                    await asyncio.sleep(self._every)
                    if not await refresh():
                        return
        except TimeoutError:
            return
        except (TelegramAPIError, SQLAlchemyError, SegbotError) as error:
            logger.warning("a live message stopped updating: %s", type(error).__name__)

    def _forget(self, key: tuple[int, int], done: "asyncio.Task[None]") -> None:
        if self._tasks.get(key) is done:
            del self._tasks[key]
