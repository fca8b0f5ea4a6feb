"""The bot's middlewares.

Outer, on every update (installed by `bot.dispatcher.build_dispatcher`): the anti-flood
throttle (`ThrottleMiddleware`) and, after the FSM state (`bot.conversation_state`), the
event log (`EventLogMiddleware`). Inner, on the private-chat router
(`bot.routers.get_routers`), so they run only for an update a handler takes: one database
session (`DbSessionMiddleware`, which handles the update again when it lost out to
concurrent work on the database) and the subscriber's language
(`LanguageMiddleware`).
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Collection
from contextvars import ContextVar
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import TelegramObject, Update, User
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.conversation_state import StatePrefetch
from bot.flood import Buckets, LocalBuckets
from bot.i18n import Texts
from bot.leaving import asks_to_leave
from bot.touches import touch_of
from core.clock import Clock
from core.db import is_contention
from core.events import EventLog
from core.metrics import UPDATES
from core.models import Subscriber

logger = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


# An update that lost out to concurrent work on the database is handled again this many
# times at most, after pauses of about this many seconds, doubling (each jittered by half).
CONTENTION_RETRIES = 3
CONTENTION_BACKOFF = 0.1


class DbSessionMiddleware(BaseMiddleware):
    """One database session per update, handed to handlers as `session`.

    An update whose handler lost out to concurrent work (`core.db.is_contention`: SQLite
    still locked after its busy timeout, a PostgreSQL serialization failure or deadlock, no
    pooled connection free in time) is handled again from the start in a fresh session, up
    to `retries` more times after growing, jittered pauses. The failed attempt's session is
    rolled back and closed first, so nothing it had not committed is kept.

    A retry cannot double a reply: only an attempt that has made no Bot API call (other than
    a `get...` read; `BotCallWatch`, installed on the bot's session on first use, notes each
    call) is retried, so it has sent, edited and answered nothing. What the attempt had
    committed, or kept outside the database (FSM state, an audit entry in its own session),
    stays, and the next attempt finds it (a second `/start` finds the subscriber): handlers
    are written for repeated updates anyway. An error the retries do not cure, or one raised
    after a call, goes on to `bot.errors.on_error`, which logs it at ERROR with the update id
    and apologises: no update is dropped silently.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        retries: int = CONTENTION_RETRIES,
        backoff: float = CONTENTION_BACKOFF,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._retries = retries
        self._backoff = backoff

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        bot = data.get("bot")
        if isinstance(bot, Bot):
            _watch_calls(bot)
        for retry in range(self._retries + 1):
            attempt = _Attempt()
            token = _attempt.set(attempt)
            try:
                async with self._sessionmaker() as session:
                    # A copy: what inner middlewares add is built afresh on each attempt.
                    return await handler(event, {**data, "session": session})
            except Exception as error:
                if retry == self._retries or attempt.called_bot or not is_contention(error):
                    raise
                pause = self._backoff * 2**retry * random.uniform(0.5, 1.5)  # noqa: S311
                logger.warning(
                    "update %s lost out to concurrent work on the database (%s); handling it again"
                    " in %.2fs (retry %d of %d)",
                    _update_id(data),
                    type(error).__name__,
                    pause,
                    retry + 1,
                    self._retries,
                )
            finally:
                _attempt.reset(token)
            await asyncio.sleep(pause)
        raise AssertionError("unreachable: the last attempt returns or raises")


class _Attempt:
    """What one attempt at handling an update did besides its database session."""

    __slots__ = ("called_bot",)

    def __init__(self) -> None:
        self.called_bot = False


_attempt: ContextVar[_Attempt | None] = ContextVar("segbot_update_attempt", default=None)


class BotCallWatch(BaseRequestMiddleware):
    """Notes on the attempt being handled (if any) each Bot API call that may change what a
    user sees: anything but a `get...` read. `DbSessionMiddleware` installs it on its bot."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        attempt = _attempt.get()
        if attempt is not None and not method.__api_method__.startswith("get"):
            attempt.called_bot = True  # before the call: a failed call may still have landed
        return await make_request(bot, method)


def _watch_calls(bot: Bot) -> None:
    if not any(isinstance(middleware, BotCallWatch) for middleware in bot.session.middleware):
        bot.session.middleware(BotCallWatch())


def _update_id(data: dict[str, Any]) -> int | None:
    update = data.get("event_update")
    return update.update_id if isinstance(update, Update) else None


class ThrottleMiddleware(BaseMiddleware):
    """Per-user anti-flood: excess updates from one user are dropped, so one user hammering
    the bot cannot slow everyone else down. The buckets live in this process unless given
    shared ones (bot/flood.py). `exempt` users (the owners, clicking through the admin
    wizard) are never throttled, nor is a block or an unblock. A request to leave
    (`bot.leaving`: /stop, /forget, their buttons) that the flood limit would drop goes
    through on a small allowance of its own (`LEAVING_BURST`, then one every
    `LEAVING_EVERY` seconds), so a flooder who asks to stop is stopped and one who floods
    with /stop is still cut off. Given a `prefetch` (of the same buckets), each token is
    taken through it, reading the update's FSM state along (bot/conversation_state.py)."""

    LEAVING_BURST, LEAVING_EVERY = 4, 30.0

    def __init__(
        self,
        buckets: Buckets | None = None,
        *,
        exempt: Collection[int] = (),
        prefetch: StatePrefetch | None = None,
    ) -> None:
        self._buckets = buckets or LocalBuckets()
        self._leaving = LocalBuckets(rate=1 / self.LEAVING_EVERY, burst=self.LEAVING_BURST)
        self._exempt = frozenset(exempt)
        self._prefetch = prefetch
        self.dropped = 0

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        if isinstance(user, User) and not await self._admit(user.id, event, data):
            self.dropped += 1
            # The update, not the person: the log outlives a subscriber's /forget.
            update_id = event.update_id if isinstance(event, Update) else None
            logger.debug("throttled update %s: its sender is over the flood limit", update_id)
            return None
        return await handler(event, data)

    async def _admit(self, user_id: int, event: TelegramObject, data: dict[str, Any]) -> bool:
        update = event if isinstance(event, Update) else None
        if user_id in self._exempt or (update is not None and update.my_chat_member is not None):
            # A block or unblock is made by hand: one lost would leave a flooder counted, and
            # sent to, as active.
            return True
        if self._prefetch is not None:
            admitted = await self._prefetch.admit(user_id, data)
        else:
            admitted = await self._buckets.admit(user_id)
        leaving = update is not None and asks_to_leave(update)
        return admitted or (leaving and await self._leaving.admit(user_id))


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
    /language, else the one their Telegram app uses now (this update's: the stored one
    is only updated by their next /start), else the one stored. Inner: runs only for
    updates some handler will take, so silent updates cost no query."""

    def __init__(self, texts: Texts) -> None:
        self._texts = texts

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user = data.get("event_from_user")
        code = None
        if isinstance(user, User):
            session: AsyncSession = data["session"]
            row = (
                await session.execute(
                    select(
                        Subscriber.language_code,
                        Subscriber.attributes["language_chosen"].as_boolean(),
                    ).where(Subscriber.telegram_id == user.id)
                )
            ).first()
            stored, chosen = (None, False) if row is None else row
            code = stored if chosen or not user.language_code else user.language_code
        data["t"] = self._texts.for_language(code)
        return await handler(event, data)
