"""Flood limits and injected faults, seen through the real aiogram client."""

import asyncio
import random
from collections.abc import AsyncIterator, Iterable

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import Message

from telegram_emulator import Emulator, Limits

USERS = range(2001, 2101)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(seed=7) as emulator:
        for user_id in USERS:
            emulator.add_user(user_id)
        yield emulator


async def send_until_limited(bot: Bot, chat_ids: Iterable[int]) -> TelegramRetryAfter:
    for chat_id in chat_ids:
        try:
            await bot.send_message(chat_id, "Sale!")
        except TelegramRetryAfter as limited:
            return limited
    pytest.fail("no 429 Too Many Requests")


async def test_global_limit_answers_429_with_retry_after(bot: Bot, emu: Emulator) -> None:
    emu.limits.global_per_second = 5

    # One message per chat: only the global limit applies.
    limited = await send_until_limited(bot, USERS)

    assert limited.retry_after >= 1
    [answer] = [request for request in emu.requests if request.status == 429]
    assert answer.description == f"Too Many Requests: retry after {limited.retry_after}"


async def test_the_recorded_times_show_the_exact_window(bot: Bot, emu: Emulator) -> None:
    emu.limits.global_per_second = 3

    await asyncio.gather(*(bot.send_message(u, "Sale!") for u in USERS[:8]), return_exceptions=True)

    requests = emu.requests_for("sendMessage")
    accepted = sorted(request.at for request in requests if request.ok)
    refused = [request.at for request in requests if request.status == 429]
    assert refused  # eight at once: some went over
    assert all(later - first >= 1.0 for first, later in zip(accepted, accepted[3:], strict=False))
    assert all(sum(at - 1.0 < sent <= at for sent in accepted) == 3 for at in refused)


async def test_paid_broadcast_raises_the_global_ceiling(bot: Bot, emu: Emulator) -> None:
    emu.limits.global_per_second = 5

    for user_id in USERS[:20]:
        await bot.send_message(user_id, "Sale!", allow_paid_broadcast=True)

    assert all(request.ok for request in emu.requests_for("sendMessage"))


async def test_per_chat_limit_allows_a_small_burst_then_429(bot: Bot, emu: Emulator) -> None:
    user_id = USERS[0]

    limited = await send_until_limited(bot, [user_id] * 20)

    assert limited.retry_after >= 1
    assert len(emu.messages_to(user_id)) >= emu.limits.chat_burst


async def test_disabled_limits_let_everything_through(bot: Bot, emu: Emulator) -> None:
    emu.limits = Limits(enabled=False)

    for _ in range(20):
        await bot.send_message(USERS[0], "Again")

    assert len(emu.messages_to(USERS[0])) == 20


async def test_fail_next_answers_server_errors_then_recovers(bot: Bot, emu: Emulator) -> None:
    emu.fail_next(2, status=502, method="sendMessage")

    for _ in range(2):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(USERS[0], "Hi")
    await bot.get_me()  # other methods are not affected
    assert await bot.send_message(USERS[0], "Hi")
    assert [request.status for request in emu.requests_for("sendMessage")] == [502, 502, 200]


async def test_fail_next_without_method_hits_any_call_but_polling(bot: Bot, emu: Emulator) -> None:
    emu.fail_next()

    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.get_me()
    assert await bot.get_me()


async def test_forced_retry_after_storm(bot: Bot, emu: Emulator) -> None:
    emu.force_retry_after(seconds=7, n=2)

    for user_id in USERS[:2]:
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(user_id, "Hi")
        assert caught.value.retry_after == 7
    assert await bot.send_message(USERS[2], "Hi")


async def test_error_rate_fails_a_seeded_fraction_of_sends(bot: Bot, emu: Emulator) -> None:
    emu.limits = Limits(enabled=False, error_rate=0.5)

    failures = 0
    for user_id in USERS[:40]:
        try:
            await bot.send_message(user_id, "Hi")
        except TelegramServerError:
            failures += 1

    assert 5 < failures < 35
    assert len(emu.requests_for("sendMessage")) == 40


async def test_slow_responses_may_still_deliver(bot: Bot, emu: Emulator) -> None:
    emu.limits.delay_seconds = 2.0

    with pytest.raises(TelegramNetworkError, match="timeout"):
        await bot.send_message(USERS[0], "Hi", request_timeout=1)

    # Like Telegram, a request that timed out on the client may have been delivered.
    assert [message.text for message in emu.messages_to(USERS[0])] == ["Hi"]


async def test_held_sends_are_delivered_but_answered_late(bot: Bot, emu: Emulator) -> None:
    # The client gives up between the answer at once (twenty in one loop, on a busy
    # machine) and the held answer.
    emu.limits = Limits(enabled=False, hold_rate=0.5, hold_seconds=6.0)
    sends = [bot.send_message(user_id, "Hi", request_timeout=3) for user_id in USERS[:20]]

    answers = await asyncio.gather(*sends, return_exceptions=True)

    timed_out = [answer for answer in answers if isinstance(answer, TelegramNetworkError)]
    # the seeded RNG holds the same sends every time; the others answer at once
    draws = random.Random(7)  # noqa: S311 - the emulator's seed
    assert len(timed_out) == sum(draws.random() < 0.5 for _ in answers)
    assert 0 < len(timed_out) < len(answers)
    assert all(isinstance(answer, Message) for answer in answers if answer not in timed_out)
    assert all(len(emu.messages_to(user_id)) == 1 for user_id in USERS[:20])
    assert all(request.ok for request in emu.requests_for("sendMessage"))
