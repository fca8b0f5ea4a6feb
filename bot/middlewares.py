"""The bot's middlewares.

Outer, on every update (installed by `bot.dispatcher.build_dispatcher`): the anti-flood
throttle (`ThrottleMiddleware`) and the event log (`EventLogMiddleware`). Inner, on the
private-chat router (`bot.routers.get_routers`), so they run only for an update a handler
takes: one database session (`DbSessionMiddleware`) and the subscriber's language
(`LanguageMiddleware`).
"""

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.flood import Buckets, LocalBuckets
from bot.i18n import Texts
from bot.touches import touch_of
from core.clock import Clock
from core.events import EventLog
from core.metrics import UPDATES
from core.models import Subscriber

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class DbSessionMiddleware(BaseMiddleware):
    """One database session per update, handed to handlers as `session`."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        async with self._sessionmaker() as session:
            data["session"] = session
            return await handler(event, data)


class ThrottleMiddleware(BaseMiddleware):
    """Per-user anti-flood: excess updates from one user are dropped, so one user hammering
    the bot cannot slow everyone else down. The buckets live in this process unless given
    shared ones (bot/flood.py). `exempt` users (the owners, clicking through the admin
    wizard) are never throttled."""

    def __init__(self, buckets: Buckets | None = None, *, exempt: Collection[int] = ()) -> None:
        self._buckets = buckets or LocalBuckets()
        self._exempt = frozenset(exempt)
        self.dropped = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if (
            isinstance(user, User)
            and user.id not in self._exempt
            and not await self._buckets.admit(user.id)
        ):
            self.dropped += 1
            logger.debug("throttled an update from user %s", user.id)
            return None
        return await handler(event, data)


class EventLogMiddleware(BaseMiddleware):
    """Every inbound update becomes a touch in the event log (buffered, see core.events)."""

    def __init__(self, log: EventLog, *, clock: Clock, store_text: bool = False) -> None:
        self._log = log
        self._clock = clock
        self._store_text = store_text

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if isinstance(event, Update):
            UPDATES.inc()
            touch = touch_of(event, self._clock(), store_text=self._store_text)
            if touch is not None:
                self._log.record(touch)
        return await handler(event, data)


class LanguageMiddleware(BaseMiddleware):
    """Hands handlers `t`, a Translator for the user: the language they chose with
    /language, else the one their Telegram app uses. Inner: runs only for updates some
    handler will take, so silent updates cost no query."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        code = None
        if isinstance(user, User):
            session: AsyncSession = data["session"]
            code = (
                await session.scalar(
                    select(Subscriber.language_code).where(Subscriber.telegram_id == user.id)
                )
                or user.language_code
            )
        data["t"] = self._texts.for_language(code)
        return await handler(event, data)
