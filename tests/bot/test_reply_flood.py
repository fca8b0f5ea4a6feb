"""A reply Telegram holds back with 429s waits each out and goes, for up to
REPLY_PATIENCE seconds of waiting in all; past that the 429 is the reply's failure."""

import asyncio
from typing import Any

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.methods import Response, SendMessage

from bot.retry import REPLY_PATIENCE, RetryAfterMiddleware

METHOD = SendMessage(chat_id=1, text="Welcome!")
SENT = Response[str](ok=True, result="sent")


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []

    async def pause(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", pause)
    return waited


def flooded(times: int, retry_after: int) -> Any:
    """A request that Telegram answers with 429 `times` times, then accepts."""
    calls = 0

    async def make_request(_bot: Bot, method: SendMessage) -> Response[str]:
        nonlocal calls
        calls += 1
        if calls <= times:
            raise TelegramRetryAfter(method=method, message="429", retry_after=retry_after)
        return SENT

    return make_request


async def test_a_reply_waits_out_many_short_floods(pauses: list[float]) -> None:
    middleware = RetryAfterMiddleware()
    bot = Bot("123456:TEST-TOKEN")
    assert await middleware(flooded(8, 2), bot, METHOD) is SENT
    assert pauses == [2] * 8


async def test_a_reply_gives_up_past_its_patience(pauses: list[float]) -> None:
    middleware = RetryAfterMiddleware()
    bot = Bot("123456:TEST-TOKEN")
    with pytest.raises(TelegramRetryAfter):
        await middleware(flooded(100, 7), bot, METHOD)
    assert sum(pauses) <= REPLY_PATIENCE
    zero = RetryAfterMiddleware(patience=3)
    pauses.clear()
    with pytest.raises(TelegramRetryAfter):
        await zero(flooded(100, 0), bot, METHOD)  # a garbled 0 still counts a second
    assert pauses == [1, 1, 1]
