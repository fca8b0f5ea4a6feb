"""Bot API answers worth trying again, told apart from those that are final.

- Replies that hit Telegram's flood limit wait `retry_after` and go again
  (`RetryAfterMiddleware`), for up to `REPLY_PATIENCE` seconds of waiting in all. A
  subscriber answering the quiz quickly can make the bot exceed the per-chat rate, and a
  crowd pressing Start at once (a post that went viral) its global one; the right answer
  to a 429 is to wait as long as Telegram says and retry: a welcome 20 s late is better
  than an apology, which would hit the same limit. (The broadcast sender has its own,
  stricter handling of 429s.)
- A call the bot cannot do without (its start's calls, getUpdates) is tried again after
  aiogram's backoff, never sooner than a 429 asks (`wait_before_retry`).
- A 5xx whose body is no Bot API answer (the HTML page of a proxy in front of Telegram:
  502 Bad Gateway) is a server error, tried again like any 5xx (`BotApiSession`); aiogram
  reads the body before the status and would call it an answer from no Bot API server.
"""

import asyncio
import logging
from http import HTTPStatus

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.utils.backoff import Backoff

from core.metrics import RETRY_AFTER

logger = logging.getLogger(__name__)


REPLY_PATIENCE = 30.0  # seconds a reply waits out 429s in all, before it gives up


class RetryAfterMiddleware(BaseRequestMiddleware):
    def __init__(self, *, patience: float = REPLY_PATIENCE) -> None:
        self._patience = patience

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        waited = 0.0
        while True:
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as flood:
                RETRY_AFTER.labels(client="bot").inc()
                pause = max(flood.retry_after, 1)  # a garbled 0 must not spin for ever
                if waited + pause > self._patience:
                    raise
                logger.info("%s hit the flood limit; retrying in %ss", type(method).__name__, pause)
                await asyncio.sleep(pause)
                waited += pause


class BotApiSession(AiohttpSession):
    """aiogram's session, with a 5xx that is no Bot API answer a `TelegramServerError`."""

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        try:
            return super().check_response(bot, method, status_code, content)
        except ClientDecodeError:
            if status_code < HTTPStatus.INTERNAL_SERVER_ERROR:
                raise
            raise TelegramServerError(
                method=method, message=f"HTTP {status_code} without a Bot API answer"
            ) from None


def wait_before_retry(backoff: Backoff, error: AiogramError) -> float:
    """Seconds before trying again after `error`: the backoff's next delay (it moves on),
    or the wait a 429 asks if that is longer."""
    asked = error.retry_after if isinstance(error, TelegramRetryAfter) else 0
    return max(next(backoff), asked)
