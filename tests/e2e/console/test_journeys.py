"""The Journeys page in Chromium: the list with each journey's counts, a journey's counts
per step and the diagram of its steps, Pause and Resume (asked first, audited) for those
who may change campaigns; viewers see no button and are refused a POST.

The journey is the hand-counted one of tests/journeys/report_scenario.py (saved with
journeys.store.save_journey), paused before the bot sees it, so nobody moves while the
counts are read."""

import aiohttp
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import AuditLog
from journeys.models import Journey, JourneyStatus
from journeys.store import CLI_ACTOR, set_status
from tests.e2e.console.browser import init_data, screenshot
from tests.e2e.console.conftest import MARKETER, VIEWER, Console
from tests.journeys.report_scenario import REPORTED_AT, build

pytestmark = pytest.mark.e2e


@pytest.fixture
async def welcome(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """The scenario's journey `welcome`, paused; its id."""
    async with sessionmaker() as session:
        return (await build(session, paused=True)).journey_id


async def status_of(sessionmaker: async_sessionmaker[AsyncSession], journey_id: int) -> str:
    async with sessionmaker() as session:
        journey = await session.get(Journey, journey_id)
        assert journey is not None
        return journey.status.value


async def cells(page: Page, selector: str) -> list[list[str]]:
    rows = page.locator(selector)
    return [
        [cell.strip() for cell in await rows.nth(number).locator("td").all_inner_texts()]
        for number in range(await rows.count())
    ]


async def test_the_list_the_counts_per_step_and_the_diagram(console: Console, welcome: int) -> None:
    page = await console.open(VIEWER, "journeys")
    await expect(page.locator("#main h1")).to_have_text("Journeys")
    assert await cells(page, "#main tbody tr") == [["welcome", "paused", "7", "4", "1"]]
    await screenshot(page, "journeys")

    await page.get_by_role("link", name="welcome").click()
    await expect(page.locator("#main h1")).to_have_text("Journey welcome")
    assert page.url == f"{console.url}journeys/{welcome}"
    main = page.locator("#main")
    await expect(main).to_contain_text("welcome (paused, version 1): trigger subscribed;")
    await expect(main).to_contain_text("11 entries by 10 people: 4 held out, 4 inside now")
    steps = await cells(page, "#main table tbody tr")
    assert [row[0].split()[0] for row in steps] == [
        "hello", "pause", "clicked", "nudge", "thanks", "settle",
    ]  # fmt: skip
    assert steps[0] == ["hello", "7", "2", "4", "1", "1"]
    assert steps[2][0].split("\n")[-1] == "yes 1, no 1"

    # The diagram: hello, pause, then clicked's two ways side by side, meeting at settle.
    boxes = main.locator(".card[id^='step-']")
    await expect(boxes).to_have_count(6)
    await expect(main.locator("#step-hello")).to_contain_text("reached 7 · here now 2")
    yes = main.get_by_role("group", name="clicked, yes: it happened")
    no = main.get_by_role("group", name="clicked, no: not within 2d")
    await expect(yes.locator(".card")).to_have_attribute("id", "step-thanks")
    await expect(no.locator(".card")).to_have_attribute("id", "step-nudge")
    await expect(main.locator("#step-clicked")).to_contain_text(
        "wait for clicked (step hello), up to 2d"
    )
    order = await boxes.evaluate_all("boxes => boxes.map(box => box.id)")
    assert order == [
        "step-hello", "step-pause", "step-clicked", "step-thanks", "step-nudge", "step-settle",
    ]  # fmt: skip
    await expect(main).to_contain_text("■ end")
    # A viewer may look, not change.
    await expect(main.get_by_role("button")).to_have_count(0)
    await screenshot(page, "journey_diagram")


async def test_a_marketer_resumes_then_pauses_and_it_is_audited(
    console: Console, welcome: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    page = await console.open(MARKETER, f"journeys/{welcome}")
    main = page.locator("#main")
    await main.get_by_role("button", name="▶ Resume").click()
    await expect(main.locator(".ok")).to_have_text("Resumed.")
    await expect(main).to_contain_text("(live, version 1)")
    assert await status_of(sessionmaker, welcome) == "live"
    assert "Resume the journey welcome?" in await page.evaluate("Telegram.WebApp.lastConfirm")
    await main.get_by_role("button", name="⏸ Pause").click()
    await expect(main.locator(".ok")).to_have_text("Paused.")
    await expect(main.get_by_role("button", name="▶ Resume")).to_be_visible()
    assert await status_of(sessionmaker, welcome) == "paused"
    async with sessionmaker() as session:
        rows = await session.execute(
            select(AuditLog.admin_user_id, AuditLog.action, AuditLog.detail).order_by(AuditLog.id)
        )
        audited = [(who, action, detail.get("outcome")) for who, action, detail in rows]
    assert audited == [
        (CLI_ACTOR, "journey.save", None),
        (CLI_ACTOR, "journey.pause", None),
        (MARKETER, "journey.resume", None),
        (MARKETER, "console journey.resume", "done"),
        (MARKETER, "journey.pause", None),
        (MARKETER, "console journey.pause", "done"),
    ]


async def test_a_change_refused_says_why_beside_the_button(
    console: Console, welcome: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    page = await console.open(MARKETER, f"journeys/{welcome}")
    resume = page.locator("#main").get_by_role("button", name="▶ Resume")
    await expect(resume).to_be_visible()
    async with sessionmaker() as session:  # resumed meanwhile, from the command line
        await set_status(
            session, name="welcome", status=JourneyStatus.LIVE, now=REPORTED_AT, actor=CLI_ACTOR
        )
    await resume.click()
    await expect(page.locator("#journey-error")).to_have_text(
        "journey 'welcome' is live: only a paused journey can be resumed"
    )
    async with sessionmaker() as session:
        refused = await session.scalar(
            select(AuditLog.detail).where(AuditLog.action == "console journey.resume")
        )
    assert refused is not None
    assert refused["outcome"].startswith("refused: journey 'welcome' is live")


async def test_a_viewer_sees_no_pause_and_is_refused_a_post(
    console: Console, welcome: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session:  # live: where a marketer would see Pause
        await set_status(
            session, name="welcome", status=JourneyStatus.LIVE, now=REPORTED_AT, actor=CLI_ACTOR
        )
    signed = {"X-Telegram-Init-Data": init_data(VIEWER), "HX-Request": "true"}
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{console.url}journeys/{welcome}", headers=signed) as answer:
            assert answer.status == 200
            page = await answer.text()
            csrf = answer.headers["X-CSRF-Token"]
        assert "(live, version 1)" in page
        assert "<button" not in page
        async with http.post(
            f"{console.url}journeys/{welcome}/pause", headers={**signed, "X-CSRF-Token": csrf}
        ) as answer:
            assert answer.status == 403
    assert await status_of(sessionmaker, welcome) == "live"
