"""Answers a real Bot API, or a proxy in front of one, can give that are not the usual
ones: an HTML 502 is a server error (tried again), not "no Bot API server"; a 429 on
getUpdates is waited out as long as it asks; a description with a newline stays on one
log line; an answer that is not JSON does not stop the bot while it sets admin menus."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import ClientDecodeError, TelegramServerError
from aiohttp import web

from bot.admin import CATALOG
from bot.admin.menu import publish_menu
from bot.polling import poll
from bot.retry import BotApiSession
from core.models import AdminRole
from tests.polling import until

Answer = Callable[[web.Request], web.Response]
Serve = Callable[[Answer], Awaitable[Bot]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A Bot whose every request `answer` answers."""
    runners: list[web.AppRunner] = []
    bots: list[Bot] = []

    async def start(answer: Answer) -> Bot:
        async def handle(request: web.Request) -> web.Response:
            return answer(request)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        bot = Bot("42:ODD", session=BotApiSession(api=TelegramAPIServer.from_base(base)))
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.session.close()
    for runner in runners:
        await runner.cleanup()


def html(status: int) -> Answer:
    return lambda _request: web.Response(
        status=status, text="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"
    )


async def test_an_html_5xx_is_a_server_error_and_an_html_4xx_no_bot_api_answer(
    serve: Serve,
) -> None:
    proxy = await serve(html(502))
    with pytest.raises(TelegramServerError, match="HTTP 502 without a Bot API answer"):
        await proxy.delete_webhook()
    elsewhere = await serve(html(404))
    with pytest.raises(ClientDecodeError):
        await elsewhere.delete_webhook()


async def test_a_429_on_get_updates_is_waited_out_and_its_words_stay_on_one_line(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    flood = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 35\nERROR forged line",
        "parameters": {"retry_after": 35},
    }
    bot = await serve(lambda _request: web.json_response(flood, status=429))
    with caplog.at_level(logging.ERROR, logger="bot.polling"):
        task = asyncio.create_task(poll(Dispatcher(), bot, allowed_updates=("message",)))
        try:
            await until(lambda: "getUpdates failed" in caplog.text, what="the 429 logged")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    [line] = [record.getMessage() for record in caplog.records]
    assert line.endswith("trying again in 35.0 s")
    assert "\n" not in line
    assert "retry after 35 ERROR forged line" in line


async def test_an_answer_that_is_not_json_leaves_an_admin_menu_unset_not_the_bot_stopped(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await serve(lambda _request: web.Response(text="<html>maintenance</html>"))
    with caplog.at_level(logging.WARNING, logger="bot.admin.menu"):
        await publish_menu(
            bot, CATALOG, user_id=900, role=AdminRole.OWNER, public_url="http://127.0.0.1"
        )
    assert "could not set the command menu of admin 900" in caplog.text
