"""`segbot run` while what it depends on misbehaves: the database out of reach for a while,
the Bot API failing or refusing the token as the bot starts. It recovers by itself when
the dependency is back, and stops with a clear message when it cannot start."""

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import runtime
from bot.webhook import InboxProcessor
from core import inbox
from core.clock import utcnow
from core.db import create_engine, create_sessionmaker
from core.leader import lead
from core.settings import Settings
from telegram_emulator import Emulator
from tests.e2e.conftest import BOT_TOKEN, SEGBOT, segbot_run
from tests.polling import until
from tests.stopping import stop

pytestmark = pytest.mark.e2e

TEST_KEY = 0x7E57_0002
PENDING_UPDATE_ID = 9_000_000_001


class Outage:
    """An engine whose new connections are refused while the database is `down`, as a
    server that is restarting or out of reach refuses them."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.down = False
        self.refused = 0
        event.listen(self.engine.sync_engine, "do_connect", self._connect)

    def _connect(self, *_args: Any) -> None:
        if self.down:
            self.refused += 1
            raise ConnectionRefusedError(111, "Connect call failed (the test's outage)")


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[Outage]:
    outage = Outage(database_url)
    yield outage
    await outage.engine.dispose()


@pytest.fixture
async def outage_on_own_database(fresh_database_url: str) -> AsyncIterator[Outage]:
    """An outage on a database of this test's own (its connections may be terminated)."""
    outage = Outage(fresh_database_url)
    yield outage
    await outage.engine.dispose()


class Work:
    """Leader's work that runs until cancelled, counting its starts."""

    def __init__(self) -> None:
        self.starts = 0

    async def __call__(self) -> None:
        self.starts += 1
        await asyncio.Event().wait()


async def test_a_standby_waits_out_an_unreachable_database_then_leads(outage: Outage) -> None:
    if outage.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite runs one process")
    work = Work()
    outage.down = True
    standby = asyncio.create_task(lead(outage.engine, work, key=TEST_KEY, retry_seconds=0.05))
    try:
        await until(lambda: outage.refused >= 3, what="three refused tries for the lock")
        assert not standby.done(), "the standby ended while the database was out of reach"
        outage.down = False
        await until(lambda: work.starts == 1, what="the standby leading once the database is back")
    finally:
        await stop(standby)


async def test_a_leader_whose_database_restarts_leads_again_once_it_is_back(
    outage_on_own_database: Outage, engine: AsyncEngine
) -> None:
    outage = outage_on_own_database
    if outage.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks are PostgreSQL's; SQLite runs one process")
    work = Work()
    leader = asyncio.create_task(
        lead(outage.engine, work, key=TEST_KEY, retry_seconds=0.05, check_seconds=0.05)
    )
    try:
        await until(lambda: work.starts == 1, what="the first leadership")
        outage.down = True  # the server restarts: its sessions end, new ones are refused
        async with engine.connect() as admin:
            await admin.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": outage.engine.url.database},
            )
        await until(lambda: outage.refused >= 3, what="three refused tries for the lock")
        assert not leader.done(), "the leader ended while its database restarted"
        outage.down = False
        await until(lambda: work.starts == 2, what="leading again once the database is back")
    finally:
        await stop(leader)


async def test_the_webhook_inbox_handles_what_was_stored_once_the_database_is_back(
    outage: Outage, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        await inbox.store(session, {"update_id": PENDING_UPDATE_ID}, now=utcnow())
    handled: list[int] = []

    async def handle(payload: dict[str, Any]) -> None:
        handled.append(payload["update_id"])

    processor = InboxProcessor(
        create_sessionmaker(outage.engine), handle, clock=utcnow, poll_seconds=0.05
    )
    outage.down = True
    running = asyncio.create_task(processor.run())
    try:
        await until(lambda: outage.refused >= 3, what="three refused reads of the inbox")
        assert not running.done(), "the inbox stopped while the database was out of reach"
        outage.down = False
        await until(lambda: PENDING_UPDATE_ID in handled, what="the stored update handled")
    finally:
        await stop(running)


async def test_the_bot_starts_once_telegram_answers_delete_webhook(
    emulator: Emulator, bot_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    emulator.fail_next(2, status=502, method="deleteWebhook")
    bot = asyncio.create_task(runtime.run(bot_settings, handle_signals=False))
    try:
        await emulator.send_text(41001, "/start")
        welcome, _question = await emulator.wait_for_messages(41001, count=2, timeout=60)
        assert welcome.text is not None
        assert welcome.text.startswith("Welcome!")
        assert not bot.done()
    finally:
        await stop(bot)


async def test_a_token_telegram_refuses_stops_segbot_run_with_a_clear_error(
    emulator: Emulator, database_url: str
) -> None:
    emulator.fail_next(1, status=401, method="deleteWebhook")
    process = await segbot_run(
        emulator, database_url, token=BOT_TOKEN, stderr=asyncio.subprocess.PIPE
    )
    try:
        # A hang guard, not a speed test: a busy machine starts a process slowly.
        output, errors = await asyncio.wait_for(process.communicate(), timeout=90)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 2
    last_line = errors.decode().strip().splitlines()[-1]
    assert last_line.startswith("error: Telegram refuses SEGBOT_BOT_TOKEN")
    assert "Traceback" not in errors.decode()
    assert BOT_TOKEN not in (output + errors).decode()


REAL_LOOKING_TOKEN = "7654321:AAE-" + "x9" * 16  # as long as @BotFather's


async def echoing_server(answer: str) -> tuple[web.AppRunner, str]:
    """A server that is no Bot API: it answers every request with its path in it, as an
    HTML page ("html") or as a Bot API refusal ("json"), repeating the token bare too."""

    async def echo(request: web.Request) -> web.Response:
        said = f"no such path {request.path} for {REAL_LOOKING_TOKEN}"
        if answer == "html":
            return web.Response(status=404, text=f"<pre>Cannot POST {request.path}</pre>")
        return web.json_response({"ok": False, "error_code": 400, "description": said})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("html", "error: the server at SEGBOT_TELEGRAM_API_BASE answered deleteWebhook with no "),
        ("json", "error: the Bot API refused deleteWebhook: no such path /bot7654321:***/"),
    ],
)
async def test_a_server_that_repeats_the_token_stops_segbot_run_without_showing_it(
    database_url: str, answer: str, says: str
) -> None:
    runner, base = await echoing_server(answer)
    environment = os.environ | {
        "SEGBOT_BOT_TOKEN": REAL_LOOKING_TOKEN,
        "SEGBOT_SECRET_KEY": "test-secret",
        "SEGBOT_DATABASE_URL": database_url,
        "SEGBOT_TELEGRAM_API_BASE": base,
        "SEGBOT_WEB_PORT": "0",
    }
    try:
        process = await asyncio.create_subprocess_exec(
            SEGBOT, "run", env=environment,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:  # a hang guard, not a speed test
            output, errors = await asyncio.wait_for(process.communicate(), timeout=90)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    finally:
        await runner.cleanup()
    everything = (output + errors).decode()
    assert process.returncode == 2, everything
    assert errors.decode().strip().splitlines()[-1].startswith(says), everything
    assert "Traceback" not in everything
    assert REAL_LOOKING_TOKEN.partition(":")[2] not in everything
