"""Webhook delivery and the HTTP control API under /_emulator/."""

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramConflictError,
    TelegramNotFound,
    TelegramServerError,
)
from aiogram.methods import GetMe, SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from telegram_emulator import Emulator, EmulatorClient, EmulatorError
from telegram_emulator.json_types import JSON

USER = 3001


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator() as emulator:
        emulator.add_user(USER)
        yield emulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@dataclass
class WebhookReceiver:
    """A tiny web server standing in for the bot's webhook endpoint."""

    fail_first: int = 0
    deliveries: list[tuple[dict[str, str], JSON]] = field(default_factory=list)
    received: asyncio.Queue[JSON] = field(default_factory=asyncio.Queue)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.deliveries.append((dict(request.headers), body))
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        self.received.put_nowait(body)
        return web.json_response({})


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first=1)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/hook"
    yield receiver
    await runner.cleanup()


async def test_webhook_delivers_in_order_with_secret_and_retries(
    bot: Bot, emu: Emulator, receiver: WebhookReceiver
) -> None:
    await bot.set_webhook(receiver.url, secret_token="s3cr3t")
    await emu.send_text(USER, "/start")
    await emu.send_text(USER, "second")

    async with asyncio.timeout(10):
        first, second = await receiver.received.get(), await receiver.received.get()

    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert isinstance(first["message"], dict)
    assert first["message"]["text"] == "/start"
    assert isinstance(second["message"], dict)
    assert second["message"]["text"] == "second"
    assert len(receiver.deliveries) == 3  # the first attempt failed with 500 and was retried
    assert {headers["X-Telegram-Bot-Api-Secret-Token"] for headers, _ in receiver.deliveries} == {
        "s3cr3t"
    }
    info = await bot.get_webhook_info()
    assert info.url == receiver.url
    assert info.pending_update_count == 0
    assert info.last_error_message is not None
    assert "500" in info.last_error_message
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()

    assert await bot.delete_webhook()
    await emu.send_text(USER, "polling again")
    [update] = await bot.get_updates(timeout=1)
    assert update.message is not None
    assert update.message.text == "polling again"


async def test_unknown_method_is_404(bot: Bot) -> None:
    class NoSuchMethod(GetMe):
        __api_method__ = "noSuchMethod"

    with pytest.raises(TelegramNotFound, match="Not Found"):
        await bot(NoSuchMethod())


async def test_json_body_and_case_insensitive_method_names(
    emu: Emulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emu.base_url}/bot42:TEST/SENDMESSAGE"
    async with http.post(url, json={"chat_id": USER, "text": "plain JSON"}) as response:
        body = await response.json()

    assert response.status == 200
    assert body["ok"] is True
    assert body["result"]["text"] == "plain JSON"
    assert isinstance(body["result"]["date"], int)
    assert emu.requests[-1].method == "sendMessage"


async def test_control_routes_drive_users_and_read_back(
    bot: Bot, emu: Emulator, http: aiohttp.ClientSession
) -> None:
    control = f"{emu.base_url}/_emulator"

    async def call(verb: str, path: str, payload: JSON = None) -> JSON:
        async with http.request(verb, f"{control}{path}", json=payload) as response:
            body: JSON = await response.json()
        assert response.status == 200, body
        assert isinstance(body, dict)
        assert body["ok"] is True
        return body["result"]

    await call("POST", "/users", {"id": 3002, "first_name": "Bob"})
    message = await call("POST", "/users/3002/text", {"text": "/start"})
    assert isinstance(message, dict)
    assert message["text"] == "/start"
    [update] = await bot.get_updates(timeout=1)
    assert update.message is not None
    assert update.message.from_user is not None
    assert update.message.from_user.first_name == "Bob"

    await bot.send_message(3002, "Hi Bob", reply_markup=_keyboard("more"))
    messages = await call("GET", "/chats/3002/messages?count=1&timeout=2")
    assert isinstance(messages, list)
    assert isinstance(messages[0], dict)
    assert messages[0]["text"] == "Hi Bob"
    pressed = await call(
        "POST", "/users/3002/press", {"message_id": messages[0]["message_id"], "data": "more"}
    )
    assert isinstance(pressed, dict)
    assert isinstance(pressed["callback_query_id"], str)

    changes: dict[str, JSON] = {"global_per_second": 99, "enabled": False}
    changes |= {"hold_rate": 0.25, "hold_seconds": 3}
    limits = await call("PUT", "/limits", changes)
    assert isinstance(limits, dict)
    assert changes.items() <= limits.items()
    assert emu.limits.global_per_second == 99
    assert (emu.limits.hold_rate, emu.limits.hold_seconds) == (0.25, 3)
    assert not emu.limits.enabled
    contact = await call("POST", "/users/3002/contact", {"phone_number": "+15550003"})
    assert isinstance(contact, dict)
    assert contact["contact"] == {"phone_number": "+15550003", "first_name": "Bob", "user_id": 3002}
    reaction = await call("POST", "/users/3002/react", {"message_id": 2, "emoji": "🔥"})
    assert isinstance(reaction, dict)
    assert reaction["new_reaction"] == [{"type": "emoji", "emoji": "🔥"}]
    await call("POST", "/users/3002/block")
    assert emu.user(3002).blocked
    await call("POST", "/users/3002/unblock")
    assert not emu.user(3002).blocked
    await call("POST", "/faults/fail_next", {"n": 1, "status": 500, "method": "getMe"})
    requests = await call("GET", "/requests?method=sendMessage")
    assert isinstance(requests, list)
    assert len(requests) == 1

    async with http.post(
        f"{control}/users/9999/press", json={"message_id": 1, "data": "x"}
    ) as response:
        error = await response.json()
    assert response.status == 400
    assert "unknown user 9999" in error["error"]


def _keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=data, callback_data=data)]]
    )


async def test_webhook_reply_with_a_method_is_executed(bot: Bot, emu: Emulator) -> None:
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, handle_in_background=False).register(app, path="/wh")
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        await bot.set_webhook(f"http://{host}:{port}/wh")
        await emu.send_text(USER, "hello")
        [reply] = await emu.wait_for_messages(USER, count=1)
    finally:
        await bot.delete_webhook()
        await runner.cleanup()

    assert reply.text == "echo: hello"
    assert emu.requests_for("sendMessage")[0].ok


async def test_newer_long_poll_terminates_the_waiting_one(bot: Bot) -> None:
    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)  # let the first poll start waiting

    assert await bot.get_updates(timeout=0) == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await waiting


async def test_client_drives_a_standalone_emulator_process() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telegram_emulator", "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(20):
            banner = (await process.stdout.readline()).decode()
        base_url = banner.split(" at ")[1].split()[0]
        session = AiohttpSession(api=TelegramAPIServer.from_base(base_url))
        async with EmulatorClient(base_url) as client, Bot("42:TEST", session=session) as bot:
            await client.add_user(USER, first_name="Cy")
            await client.send_text(USER, "/start")
            [update] = await bot.get_updates(timeout=1)
            assert update.message is not None
            sent = await bot.send_message(USER, "Hi Cy", reply_markup=_keyboard("ok"))
            [message] = await client.wait_for_messages(USER, count=1, timeout=2)
            assert message["text"] == "Hi Cy"
            assert await client.press_button(USER, sent.message_id, "ok")
            await client.fail_next(method="getMe")
            with pytest.raises(TelegramServerError):
                await bot.get_me()
            wanted: dict[str, float | bool] = {"enabled": False, "hold_rate": 0.5}
            wanted["hold_seconds"] = 0.2
            assert wanted.items() <= (await client.set_limits(**wanted)).items()
            assert [r["method"] for r in await client.requests("getMe")] == ["getMe"]
            with pytest.raises(TimeoutError, match="received 1 message"):
                await client.wait_for_messages(USER, count=2, timeout=0.05)
            with pytest.raises(EmulatorError, match="no button"):
                await client.press_button(USER, sent.message_id, "nope")
    finally:
        process.terminate()
        await process.wait()


async def test_raw_updates_reach_the_bot_as_they_are_and_raw_bodies_its_webhook(
    bot: Bot, emu: Emulator, receiver: WebhookReceiver, http: aiohttp.ClientSession
) -> None:
    async with EmulatorClient(emu.base_url) as client:
        raw = await client.inject_update({"message": {"message_id": "one"}, "future": [1]})
        with pytest.raises(EmulatorError, match="leave update_id out"):
            await client.inject_update({"update_id": 5})
        with pytest.raises(EmulatorError, match="no webhook is set"):
            await client.post_to_webhook("{}")
        async with http.get(f"{emu.base_url}/bot42:TEST/getUpdates") as response:
            batch = (await response.json())["result"]
        assert batch == [raw]
        assert raw == {
            "update_id": raw["update_id"],
            "message": {"message_id": "one"},
            "future": [1],
        }
        with pytest.raises(ClientDecodeError):  # why segbot decodes each update on its own
            await bot.get_updates()

        await bot.set_webhook(receiver.url, secret_token="s3cr3t")
        async with asyncio.timeout(10):
            assert await receiver.received.get() == raw  # after the first attempt's 500
        assert await client.post_to_webhook('{"raw": 1}') == 200
        assert await client.post_to_webhook('{"raw": 2}', with_secret=False) == 200
    *_, (with_secret, first), (without_secret, second) = receiver.deliveries
    assert (first, second) == ({"raw": 1}, {"raw": 2})
    assert with_secret["X-Telegram-Bot-Api-Secret-Token"] == "s3cr3t"
    assert "X-Telegram-Bot-Api-Secret-Token" not in without_secret
    assert await emu.post_to_webhook(b"[]") == 200
    assert emu.updates_pending() == []
