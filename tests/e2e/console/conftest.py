"""The real bot with its console, its admins (one of each role) and a headless Chromium."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

import aiohttp
import pytest
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from bot.web_server import CannotListenError
from core.clock import utcnow
from core.models import Admin, AdminRole
from core.settings import Settings
from telegram_emulator import Emulator
from tests.e2e.console.browser import chromium_path, init_data, open_console
from tests.polling import until
from tests.ports import free_port
from tests.stopping import stop

OWNER, MARKETER, OPERATOR, VIEWER, STRANGER = 7001, 7002, 7003, 7004, 7005


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        await chromium.close()


@dataclass(frozen=True)
class Console:
    url: str  # the console's root, http://127.0.0.1:PORT/console/
    settings: Settings
    browser: Browser

    async def open(self, user_id: int, path: str = "", **signing: object) -> Page:
        """A phone-sized page at `path`, opened in "Telegram" by `user_id`."""
        signed = init_data(user_id, **signing)  # type: ignore[arg-type]
        return await open_console(self.browser, self.url + path, signed=signed)


PORT_TRIES = 3  # ports the console's web server is started on before the fixture gives up


@pytest.fixture
def console_settings(bot_settings: Settings) -> Settings:
    return bot_settings.model_copy(update={"admin_ids": (OWNER,)})


@pytest.fixture
async def console(
    console_settings: Settings,
    emulator: Emulator,
    browser: Browser,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Console]:
    """`segbot run` with the console, an admin of each role, and the browser."""
    async with sessionmaker() as session:
        for user_id, role in ((MARKETER, AdminRole.MARKETER), (OPERATOR, AdminRole.OPERATOR),
                              (VIEWER, AdminRole.VIEWER)):  # fmt: skip
            session.add(Admin(user_id=user_id, role=role, added_by=OWNER, added_at=utcnow()))
        await session.commit()
    for user_id in (OWNER, MARKETER, OPERATOR, VIEWER, STRANGER):
        emulator.add_user(user_id, first_name=f"User{user_id}")
    settings, task = await _started(console_settings)
    try:
        yield Console(settings.public_url + "/console/", settings, browser)
        if task.done():
            task.result()
    finally:
        await stop(task)


async def _started(settings: Settings) -> tuple[Settings, asyncio.Task[None]]:
    """`segbot run` once its web server answers, and the settings it runs with. A port
    picked free may be taken before the server binds it (another test run beside this
    one): then on another. Any other failure of the run is raised at once."""
    for _ in range(PORT_TRIES):
        task = asyncio.create_task(runtime.run(settings, handle_signals=False))
        ended_or_serving = partial(_ended_or_serving, task, settings.public_url)
        await until(ended_or_serving, what="the web server", within=20)
        if not task.done():
            return settings, task
        if not isinstance(task.exception(), CannotListenError):
            task.result()
        port = free_port()
        settings = settings.model_copy(
            update={"web_port": port, "public_url": f"http://127.0.0.1:{port}"}
        )
    raise AssertionError(f"no free port to serve the console on in {PORT_TRIES} tries")


async def _ended_or_serving(task: asyncio.Task[None], public_url: str) -> bool:
    return task.done() or await _serving(public_url)


async def _serving(public_url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(public_url + "/healthz") as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False
