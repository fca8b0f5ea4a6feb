"""bot.polling: each update of a getUpdates batch is decoded and handled on its own (each
user's in order, different users' side by side), the offset moves past the ones skipped, a
failing getUpdates is tried again, and stopping lets the updates being handled finish. A
small Dispatcher against the emulator."""

import asyncio
import logging
from collections.abc import AsyncIterator
from http import HTTPStatus

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.polling import feed_raw, poll
from telegram_emulator import Emulator
from tests.polling import until

USER = 4100
OTHER_USER = 4101
UPDATE_TYPES = ("message",)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        emulator.add_user(USER)
        yield emulator


@pytest.fixture
async def bot(emulator: Emulator) -> AsyncIterator[Bot]:
    bot = Bot(
        "42:POLLING", session=AiohttpSession(api=TelegramAPIServer.from_base(emulator.base_url))
    )
    yield bot
    await bot.session.close()


class Recorder:
    """A Dispatcher whose one handler records the texts it gets, and its lifecycle hooks.
    The handler waits for `release` (set at first) on every text, or only on `held` ones."""

    def __init__(self, *, held: frozenset[str] | None = None) -> None:
        self.texts: list[str] = []
        self.hooks: list[str] = []
        self.held = held
        self.release = asyncio.Event()
        self.release.set()
        self.dispatcher = Dispatcher()
        self.dispatcher.message.register(self.on_message)
        self.dispatcher.startup.register(self.on_startup)
        self.dispatcher.shutdown.register(self.on_shutdown)

    async def on_message(self, message: Message) -> None:
        if self.held is None or message.text in self.held:
            await self.release.wait()
        self.texts.append(message.text or "")

    async def on_startup(self) -> None:
        self.hooks.append("startup")

    async def on_shutdown(self) -> None:
        self.hooks.append("shutdown")


@pytest.fixture
async def recorder(bot: Bot) -> AsyncIterator[Recorder]:
    """The recorder, long polling in the background until the test ends."""
    recorder = Recorder()
    task = asyncio.create_task(poll(recorder.dispatcher, bot, allowed_updates=UPDATE_TYPES))
    yield recorder
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_an_update_that_does_not_decode_is_skipped_and_the_rest_of_its_batch_handled(
    emulator: Emulator, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.polling"):
        await emulator.send_text(USER, "before")
        bad = emulator.inject_update({"message": {"message_id": 1, "text": "my secret phone"}})
        await emulator.send_text(USER, "after")
        await until(lambda: recorder.texts == ["before", "after"], what="both good updates")
        await until(lambda: not emulator.updates_pending(), what="the offset past all three")
    [line] = [record.getMessage() for record in caplog.records]
    assert line.startswith(f"update {bad['update_id']} skipped: it does not decode (")
    assert "'message.date': Field required" in line
    assert "my secret phone" not in line  # the fields at fault are named, never their values


async def test_an_update_of_a_type_aiogram_does_not_know_is_skipped_without_a_warning(
    emulator: Emulator, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        unknown = emulator.inject_update({"future_update": {"text": "hi"}})
        await emulator.send_text(USER, "after")
        await until(lambda: recorder.texts == ["after"], what="the update after it")
    [line] = [record.getMessage() for record in caplog.records]
    expected = f"update {unknown['update_id']} skipped: no update type aiogram knows"
    assert line == expected + " (fields: 'future_update')"  # aiogram's own warning quotes it


async def test_a_users_updates_wait_for_the_one_before_while_other_users_are_handled(
    emulator: Emulator, bot: Bot
) -> None:
    emulator.add_user(OTHER_USER)
    recorder = Recorder(held=frozenset({"/start"}))
    recorder.release.clear()  # the user's first update is slow to handle
    for user, text in [(USER, "/start"), (USER, "/stop"), (OTHER_USER, "hello")]:
        await emulator.send_text(user, text)  # one getUpdates batch: nothing polled yet
    task = asyncio.create_task(poll(recorder.dispatcher, bot, allowed_updates=UPDATE_TYPES))
    try:
        await until(lambda: recorder.texts == ["hello"], what="the other user's update")
        await until(lambda: not emulator.updates_pending(), what="the whole batch taken")
        await asyncio.sleep(0.05)  # time for "/stop" to be handled, were it not waiting
        assert recorder.texts == ["hello"]
        recorder.release.set()
        await until(lambda: len(recorder.texts) == 3, what="the user's two updates")
        assert recorder.texts == ["hello", "/start", "/stop"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_failing_get_updates_is_logged_and_tried_again(
    emulator: Emulator, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    emulator.fail_next(2, HTTPStatus.BAD_GATEWAY, method="getUpdates")
    recorder = Recorder()
    with caplog.at_level(logging.INFO, logger="bot.polling"):
        task = asyncio.create_task(poll(recorder.dispatcher, bot, allowed_updates=UPDATE_TYPES))
        await emulator.send_text(USER, "still there?")
        await until(lambda: recorder.texts == ["still there?"], what="the update after failures")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    failures = [r for r in caplog.records if r.getMessage().startswith("getUpdates failed")]
    assert len(failures) == 2
    assert all(record.exc_info is None for record in failures)
    assert "works again after 2 failures" in caplog.text
    assert "42:POLLING" not in caplog.text


async def test_stopping_lets_the_updates_being_handled_finish_then_runs_the_shutdown_hooks(
    emulator: Emulator, bot: Bot
) -> None:
    recorder = Recorder()
    recorder.release.clear()  # the handler waits until released
    task = asyncio.create_task(poll(recorder.dispatcher, bot, allowed_updates=UPDATE_TYPES))
    await emulator.send_text(USER, "in flight")
    await until(lambda: not emulator.updates_pending(), what="the update taken")
    await until(lambda: recorder.hooks == ["startup"], what="the startup hooks")
    task.cancel()
    await asyncio.sleep(0)  # the poller is stopping now, its handler still waiting
    assert not task.done()
    recorder.release.set()
    await asyncio.gather(task, return_exceptions=True)
    assert recorder.texts == ["in flight"]
    assert recorder.hooks == ["startup", "shutdown"]


async def test_feed_raw_skips_what_does_not_decode_and_handles_the_rest(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    message = {"message_id": 1, "date": 0, "chat": {"id": USER, "type": "private"}, "text": "hi"}
    with caplog.at_level(logging.WARNING, logger="bot.polling"):
        await feed_raw(recorder.dispatcher, bot, {"update_id": 7, "message": {"date": "x"}})
        await feed_raw(recorder.dispatcher, bot, {"update_id": 8, "message": message})
    assert recorder.texts == ["hi"]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["update 7 skipped"]
