"""The Campaigns page in real Chromium, against the real bot and the emulator.

Done when: a marketer composes a two-target campaign with an album and a language version,
previews it, test-sends it and confirms; the emulator receives exactly what the preview
showed (text or caption, media count, buttons), and after confirming the campaign is saved
and scheduled, and goes out to both targets. Besides: a bad field gets the parser's error
in the page and saves nothing; a viewer sees the list and calendar with no control; a
running campaign's live progress pauses, resumes and cancels, each press audited.
"""

import re
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiohttp
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from broadcasts.models import Campaign, CampaignStatus, RunStatus
from broadcasts.planner import plan_run
from broadcasts.runs import latest_run
from core.clock import utcnow
from core.models import AuditLog
from core.settings import Settings
from segments.saved import save_segment
from telegram_emulator import Emulator
from telegram_emulator.sent import SentMessage
from tests.broadcasts.audience import add_subscribers, campaign_from, yaml_lines
from tests.e2e.console.browser import init_data, screenshot
from tests.e2e.console.conftest import MARKETER, OWNER, VIEWER, Console
from tests.polling import until

pytestmark = pytest.mark.e2e

ENGLISH, SPANISH = (501, 502), (601, 602)  # the subscribers' chat ids
MANY = range(900, 1050)  # enough to take half a minute at 5 a second
SLOW = 30_000  # ms for what the server does at length (a save checks templates in a child
# process); the machine running the tests may be busy


@pytest.fixture
def console_settings(bot_settings: Settings) -> Settings:
    """A slow sender (5 messages a second), so a run is still sending when paused."""
    return bot_settings.model_copy(update={"admin_ids": (OWNER,), "rate_limit": 5.0})


async def audience(sessionmaker: async_sessionmaker[AsyncSession], emulator: Emulator) -> None:
    """Two English and two Spanish subscribers, and the saved segment `vip` (English)."""
    async with sessionmaker() as session:
        for chats, language in ((ENGLISH, "en"), (SPANISH, "es")):
            await add_subscribers(session, len(chats), first_id=chats[0], language=language)
            for chat in chats:
                emulator.add_user(chat, first_name=f"User{chat}", language_code=language)
        await save_segment(session, name="vip", rule_text="lang = en", now=utcnow())


async def recomposed(page: Page, change: Callable[[], Awaitable[object]]) -> None:
    """Make a change that draws the composer again, and wait until it is drawn (typing
    into the old form meanwhile would be lost)."""
    await page.eval_on_selector("#composer", "form => { form.dataset.stale = 'yes'; }")
    await change()
    await expect(page.locator("#composer:not([data-stale])")).to_have_count(1, timeout=SLOW)
    await settled(page)


async def settled(page: Page) -> None:
    """Wait until htmx has taken on what it swapped in (it marks it htmx-added until then):
    a change made to it before would trigger nothing."""
    await expect(page.locator(".htmx-added")).to_have_count(0, timeout=SLOW)


async def compose(page: Page) -> None:
    """Two targets: `vip` gets an album, a rule gets a text with buttons; both in en and es."""
    await page.fill("#c-name", "summer")

    async def languages() -> None:
        await page.fill("#c-other-languages", "es")
        await page.dispatch_event("#c-other-languages", "change")

    await recomposed(page, languages)
    await recomposed(page, lambda: page.get_by_role("button", name="+ Target").click())
    await recomposed(page, lambda: page.select_option("#t0-audience", "segment:vip"))
    await recomposed(page, lambda: page.select_option("#t1-audience", "query"))
    await page.fill("#t0-v0-text-en", "Summer, <b>{{ first_name }}</b>")
    await page.fill("#t0-v0-text-es", "Verano, <b>{{ first_name }}</b>")
    await page.fill(
        "#t0-v0-media", "https://cdn.example/beach.jpg\nvideo https://cdn.example/promo.mp4"
    )
    await page.fill("#t1-query", "lang = es")
    await page.fill("#t1-label", "spanish")
    await page.fill("#t1-v0-text-en", "Hi {{ first_name }}: <i>-20%</i> today")
    await page.fill("#t1-v0-text-es", "Hola {{ first_name }}: <i>-20%</i> hoy")
    await page.fill(
        "#t1-v0-buttons",
        "Shop | https://shop.example/  Sale | https://shop.example/sale\nHelp | https://help.example/",
    )
    await page.fill("#t1-v0-labels-es", "Tienda\nRebajas\nAyuda")


async def previewed(page: Page) -> list[tuple[str, int, list[list[str]]]]:
    """Each bubble of the preview: its text, how many media items, its buttons by row."""
    bubbles = page.locator("#preview .bubble")
    shown = []
    for index in range(await bubbles.count()):
        bubble = bubbles.nth(index)
        rows = bubble.locator(".buttons")
        buttons = [
            await rows.nth(row).locator("span").all_inner_texts()
            for row in range(await rows.count())
        ]
        media = await bubble.locator(".media [data-kind]").count()
        shown.append((await bubble.locator(".text").inner_text(), media, buttons))
    return shown


def received(message: SentMessage, media: int) -> tuple[str, int, list[list[str]]]:
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    assert isinstance(rows, list)
    buttons = [
        [str(button["text"]) for button in row if isinstance(button, dict)]
        for row in rows
        if isinstance(row, list)
    ]
    return message.plain_text, media, buttons


async def test_a_marketer_composes_previews_test_sends_and_confirms(
    console: Console, emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await audience(sessionmaker, emulator)
    page = await console.open(MARKETER, "campaigns/new")
    await expect(page.locator("#main h1")).to_have_text("New campaign")
    await settled(page)
    await compose(page)

    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview .bubble")).to_have_count(4, timeout=SLOW)  # en, es x 2
    await expect(page.locator("#preview")).to_contain_text("2 subscribers now")
    shown = await previewed(page)
    sample = 'María-José "Pepa" O\'Brien de la Fuente <VIP> & Family'  # escaped, then shown
    assert [text for text, _, _ in shown] == [
        f"Summer, {sample}",
        f"Verano, {sample}",
        f"Hi {sample}: -20% today",
        f"Hola {sample}: -20% hoy",
    ]
    await screenshot(page, "campaigns_composer")

    await page.get_by_role("button", name="Test-send to me").click()
    await expect(page.locator("#test-result")).to_contain_text("4 of 4 sent", timeout=SLOW)
    sends = emulator.sends_to(MARKETER)
    got = [received(send.messages[0], len(send.messages) if send.is_album else 0) for send in sends]
    assert got == shown  # exactly what the preview showed, in its order
    assert shown[0][1] == 2
    assert shown[0][2] == []
    assert shown[3][2] == [["Tienda", "Rebajas"], ["Ayuda"], ["Darse de baja"]]

    assert await page.evaluate("Telegram.WebApp.MainButton.text") == "Confirm"
    await page.evaluate("Telegram.WebApp.MainButton.click()")
    await expect(page.locator("#main h1")).to_have_text("summer", timeout=SLOW)
    asked = await page.evaluate("Telegram.WebApp.lastConfirm")
    assert asked == "Save this campaign and schedule it?"
    assert "/console/campaigns/" in page.url
    await expect(page.locator("#progress [data-status=sent] .figure")).to_have_text(
        "4", timeout=SLOW
    )

    for chat in ENGLISH:
        [album] = emulator.sends_to(chat)
        assert album.is_album
        assert len(album.messages) == 2
        assert album.messages[0].plain_text == f"Summer, User{chat}"
    for chat in SPANISH:
        [text] = emulator.messages_to(chat)
        assert received(text, 0) == (
            f"Hola User{chat}: -20% hoy",
            0,
            [["Tienda", "Rebajas"], ["Ayuda"], ["Darse de baja"]],
        )

    async def done() -> bool:
        async with sessionmaker() as session:
            status = await session.scalar(select(Campaign.status).where(Campaign.name == "summer"))
        return status is CampaignStatus.DONE

    await until(done, what="the campaign to be done")
    async with sessionmaker() as session:
        actions = (
            await session.scalars(select(AuditLog.action).where(AuditLog.admin_user_id == MARKETER))
        ).all()
    assert {"console campaign.test", "console campaign.create"} <= set(actions)

    await page.get_by_role("link", name="← Campaigns").click()
    await expect(page.locator("#calendar li")).to_contain_text("summer", timeout=SLOW)
    await screenshot(page, "campaigns")


async def test_a_bad_field_gets_the_parsers_error_and_saves_nothing(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    page = await console.open(MARKETER, "campaigns/new")
    await expect(page.locator("#composer")).to_be_visible()
    await settled(page)
    await page.fill("#c-name", "no_label")
    await recomposed(page, lambda: page.select_option("#t0-audience", "query"))
    await page.fill("#t0-query", "lang = es")
    await page.fill("#t0-v0-text-en", "Hola")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("#preview .error")).to_contain_text(
        "a query target needs a label", timeout=SLOW
    )
    await page.fill("#t0-label", "spanish")
    await page.fill("#t0-v0-media", "/etc/passwd")
    await page.evaluate("Telegram.WebApp.MainButton.click()")
    await expect(page.locator("#confirm-result .error")).to_contain_text(
        "sends no files", timeout=SLOW
    )
    async with sessionmaker() as session:
        assert await session.scalar(select(Campaign.id)) is None


async def test_a_viewer_sees_campaigns_without_controls(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        campaign = await campaign_from(
            session, yaml_lines("name: later", "default: {text: Hi}", "schedule: now"),
            now=utcnow(),
        )  # fmt: skip
    page = await console.open(VIEWER, f"campaigns/{campaign.id}")
    await expect(page.locator("#main h1")).to_have_text("later")
    await expect(page.locator("#progress")).to_be_visible()
    await expect(page.locator("#main button")).to_have_count(0)
    await page.get_by_role("link", name="← Campaigns").click()
    await expect(page.locator("#main")).to_contain_text("later")
    await expect(page.get_by_role("link", name="New campaign")).to_have_count(0)
    headers = {"HX-Request": "true", "X-Telegram-Init-Data": init_data(VIEWER)}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(console.url + "campaigns/new") as answer:
            assert answer.status == 403
        async with http.post(console.url + f"campaigns/{campaign.id}/cancel") as answer:
            assert answer.status == 403


async def test_live_progress_pauses_resumes_and_cancels(
    console: Console, emulator: Emulator, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:
        await add_subscribers(session, len(MANY), first_id=MANY[0])
        campaign = await campaign_from(
            session, yaml_lines("name: big", "default: {text: Hi}"), now=utcnow()
        )
    for chat in MANY:
        emulator.add_user(chat)
    page = await console.open(MARKETER, f"campaigns/{campaign.id}")
    await expect(page.locator("#main h1")).to_have_text("big")
    async with sessionmaker() as session:
        await plan_run(session, campaign=campaign, now=utcnow() - timedelta(seconds=1))
    await page.reload()
    sent = page.locator("#progress [data-status=sent] .figure")
    await expect(sent).not_to_have_text("0", timeout=SLOW)  # it follows the run as it sends
    await page.get_by_role("button", name="⏸ Pause").click()
    await expect(page.locator("#progress")).to_contain_text("Paused.")
    await expect(page.locator("#progress")).to_contain_text(re.compile(r"run \d+ paused"))
    await screenshot(page, "campaigns_progress")
    await page.get_by_role("button", name="▶ Resume").click()
    await expect(page.locator("#progress")).to_contain_text("Resumed.")
    await page.get_by_role("button", name="✖ Cancel").click()
    await expect(page.locator("#progress")).to_contain_text("Cancelled:")
    async with sessionmaker() as session:
        run = await latest_run(session, campaign_id=campaign.id)
        assert run is not None
        assert run.status is RunStatus.CANCELLED
        actions = (
            await session.scalars(select(AuditLog.action).where(AuditLog.admin_user_id == MARKETER))
        ).all()
    assert {"console campaign.pause", "console campaign.resume", "console campaign.cancel"} <= set(
        actions
    )
    assert len(emulator.sent_messages()) < len(MANY)  # the cancel stopped what was queued
    headers = {"HX-Request": "true", "X-Telegram-Init-Data": init_data(MARKETER)}
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.get(console.url + f"campaigns/{campaign.id}") as answer:
            csrf = answer.headers["X-CSRF-Token"]
        resume = console.url + f"campaigns/{campaign.id}/resume"
        async with http.post(resume, headers={"X-CSRF-Token": csrf}) as answer:
            assert answer.status == 409  # in the page, where the progress was
            assert "campaign &#39;big&#39; is not paused" in await answer.text()
