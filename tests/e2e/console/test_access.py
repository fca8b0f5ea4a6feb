"""Who gets into the console: Telegram's signed initData, checked on every request; a
one-time link for desktop browsers; nobody else, and nothing for them but 401 or 403."""

import asyncio
import re
import time

import aiohttp
import pytest
from playwright.async_api import expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import runtime
from core.models import AuditLog
from core.settings import Settings
from telegram_emulator import Emulator
from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.console.browser import init_data, screenshot
from tests.e2e.console.conftest import OWNER, STRANGER, VIEWER, Console
from tests.polling import until

pytestmark = pytest.mark.e2e


async def get(console: Console, path: str, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(console.url + path, headers={"HX-Request": "true", **headers}) as answer,
    ):
        return answer.status, await answer.text()


async def test_an_owner_opens_the_console_inside_telegram(console: Console) -> None:
    page = await console.open(OWNER)
    await expect(page.locator("#main h1")).to_have_text("segbot")
    await expect(page.locator("#main")).to_contain_text("owner")
    csp = (await page.request.get(console.url)).headers["content-security-policy"]
    assert "script-src 'self' https://telegram.org" in csp
    assert "unsafe-inline" not in csp
    assert await page.evaluate("Telegram.WebApp.isReady") is True
    await screenshot(page, "home")


@pytest.mark.parametrize(
    "signed",
    [
        init_data(OWNER, token="654321:ANOTHER-BOTS-TOKEN"),  # forged: another bot's key
        init_data(OWNER, auth_date=int(time.time()) - 2 * 86_400),  # stale: two days old
        init_data(OWNER).replace("%22Admin%22", "%22Mallory%22"),
        "",
        "user=%7B%22id%22%3A7001%7D&auth_date=1&hash=00",
    ],
    ids=["forged", "stale", "tampered", "empty", "garbage"],
)
async def test_forged_or_stale_init_data_gets_401_and_nothing_else(
    console: Console, signed: str
) -> None:
    status, body = await get(console, "", {"X-Telegram-Init-Data": signed})
    assert status == 401
    assert "Subscribers" not in body


async def test_a_non_admin_gets_403_and_nothing_else(console: Console) -> None:
    status, body = await get(console, "", {"X-Telegram-Init-Data": init_data(STRANGER)})
    assert status == 403
    assert "Subscribers" not in body


async def test_the_shell_holds_no_data_and_the_page_needs_a_credential(console: Console) -> None:
    async with aiohttp.ClientSession() as http, http.get(console.url + "segments") as answer:
        assert answer.status == 200
        assert "telegram-web-app.js" in await answer.text()
    status, _ = await get(console, "segments", {})
    assert status == 401


async def test_a_one_time_link_signs_a_desktop_browser_in_once(
    console: Console,
    emulator: Emulator,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await emulator.send_text(VIEWER, "/console link")
    (reply,) = await emulator.wait_for_messages(VIEWER, count=1, timeout=15)
    assert reply.text is not None
    link = re.search(r"http://\S+/console/signin/\S+", reply.text)
    assert link is not None
    assert str(VIEWER) not in link.group(0)  # the link names no one
    context = await console.browser.new_context()
    page = await context.new_page()
    await page.goto(link.group(0))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("#main h1")).to_have_text("segbot")
    await expect(page.locator("#main")).to_contain_text("viewer")
    # used once: the same link again is refused, in another browser too
    other = await (await console.browser.new_context()).new_page()
    await other.goto(link.group(0))
    answer = await other.request.post(
        console.url + "signin", form={"token": link.group(0).rsplit("/", 1)[1]}
    )
    assert answer.status == 401

    async def audited() -> bool:
        async with sessionmaker() as session:
            actions = await session.scalars(
                select(AuditLog.action).where(AuditLog.admin_user_id == VIEWER)
            )
            return "console" in actions.all()

    await until(audited, what="the /console command in the audit log")


async def test_console_answers_a_web_app_button_on_an_https_deployment(
    console: Console, emulator: Emulator
) -> None:
    del console  # running with an http URL: the reply says why there is no button
    await emulator.send_text(OWNER, "/console")
    (reply,) = await emulator.wait_for_messages(OWNER, count=1, timeout=15)
    assert reply.text is not None
    assert "https" in reply.text
    assert BOT_TOKEN not in reply.text


async def test_on_an_https_deployment_admins_get_a_menu_button_and_a_web_app_button(
    console_settings: Settings, emulator: Emulator
) -> None:
    settings = console_settings.model_copy(update={"public_url": "https://segbot.example.org"})
    emulator.add_user(OWNER, first_name="Owner")
    emulator.add_user(STRANGER, first_name="Stranger")
    task = asyncio.create_task(runtime.run(settings, handle_signals=False))
    try:
        await until(
            lambda: emulator.menu_button(OWNER).get("type") == "web_app",
            what="the owner's console menu button",
        )
        assert emulator.menu_button(OWNER)["web_app"] == {
            "url": "https://segbot.example.org/console/"
        }
        assert emulator.menu_button(STRANGER) == {"type": "default"}
        await emulator.send_text(OWNER, "/console")
        (reply,) = await emulator.wait_for_messages(OWNER, count=1, timeout=15)
        assert reply.reply_markup == {
            "inline_keyboard": [
                [
                    {
                        "text": "Open the console",
                        "web_app": {"url": "https://segbot.example.org/console/"},
                    }
                ]
            ]
        }
        await emulator.send_text(STRANGER, "/console")
        (ordinary,) = await emulator.wait_for_messages(STRANGER, count=1, timeout=15)
        assert ordinary.reply_markup is None or "web_app" not in str(ordinary.reply_markup)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
