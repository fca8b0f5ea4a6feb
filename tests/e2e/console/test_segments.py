"""The Segments page in real Chromium: an owner builds a segment and sees the count change
as the rule changes, a wrong rule shows its error with a caret under the place, completion
and blocks write the rule, and the segment is saved, listed with its size, refreshed and
deleted; a viewer sees it all without an edit control; the live count is rate-limited; bad
input answers 4xx with the message; AI segments are generated and a persona made and
deleted."""

import asyncio

import aiohttp
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.clock import utcnow
from core.models import AuditLog, SubscriberStatus
from segments.saved import save_segment
from tests.broadcasts.audience import add_subscribers
from tests.e2e.console.browser import init_data, screenshot
from tests.e2e.console.conftest import MARKETER, OWNER, VIEWER, Console
from tests.segments.ai.planted import plant

pytestmark = pytest.mark.e2e


async def people(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Three active Spanish speakers and one who left; six English speakers."""
    async with sessionmaker() as session:
        await add_subscribers(session, 3, first_id=101, language="es")
        await add_subscribers(
            session, 1, first_id=201, language="es", status=SubscriberStatus.UNSUBSCRIBED
        )
        await add_subscribers(session, 6, first_id=301, language="en")


async def typed(page: Page, rule: str) -> None:
    """Replace the rule in the box, as typing does (the count follows after a pause)."""
    await page.locator("#rule").fill(rule)


async def post(
    console: Console, path: str, user_id: int, form: dict[str, str], *, method: str = "POST"
) -> tuple[int, str, dict[str, str]]:
    """A request as the page makes it: credential, then the CSRF token the page got."""
    async with aiohttp.ClientSession() as http:
        headers = await page_headers(http, console, user_id)
        async with http.request(method, console.url + path, data=form, headers=headers) as answer:
            return answer.status, await answer.text(), dict(answer.headers)


async def page_headers(
    http: aiohttp.ClientSession, console: Console, user_id: int
) -> dict[str, str]:
    """What the Segments page sends with each change: its credential and CSRF token."""
    signed = {"X-Telegram-Init-Data": init_data(user_id), "HX-Request": "true"}
    async with http.get(console.url + "segments", headers=signed) as page:
        return {**signed, "X-CSRF-Token": page.headers["X-CSRF-Token"]}


async def test_an_owner_builds_a_segment_and_sees_the_count_change_as_the_rule_changes(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await people(sessionmaker)
    page = await console.open(OWNER, "segments")
    await expect(page.locator("#main h1")).to_have_text("Segments")
    await expect(page.locator("#segment-list")).to_contain_text("No saved segments yet")
    count = page.locator("#count [data-count]")

    await typed(page, "lang = es")
    await expect(count).to_have_text("4")
    await expect(page.locator("#count")).to_contain_text("3of them active")
    sample = page.locator("#count [data-member]").first
    await expect(sample).to_contain_text("✓ lang = es")  # why this member is in
    await typed(page, "lang = en")
    await expect(count).to_have_text("6")

    await typed(page, "lang = en or")  # wrong: the error, and a caret under the place
    caret = page.locator("#count pre[data-caret]")
    await expect(page.locator("#count")).to_contain_text("at column 13: expected a field")
    assert (await caret.text_content() or "").split("\n") == ["lang = en or", " " * 12 + "^"]
    assert await count.count() == 0

    await typed(page, "lang = es a")  # completion: the joins that fit, then the fields
    await page.locator("#count button", has_text="and").first.click()
    await expect(page.locator("#rule")).to_have_value("lang = es and ")
    await expect(page.locator("#count button", has_text="clicked")).to_be_visible()
    await typed(page, "lang = es and st")  # a letter or two narrows the fields
    await page.get_by_role("button", name="status", exact=True).click()
    await expect(page.locator("#rule")).to_have_value("lang = es and status ")
    await page.get_by_role("button", name="=", exact=True).click()
    await page.get_by_role("button", name="active", exact=True).click()
    await expect(page.locator("#rule")).to_have_value("lang = es and status = active ")
    await expect(count).to_have_text("3")

    await typed(page, "lang = es")  # blocks: the same rule language, built by the server
    await page.locator("summary").click()
    await page.locator("#block-field").fill("status")
    await page.locator("#block-op").select_option("!=")
    await page.locator("#block-value").fill("active")
    await page.get_by_role("button", name="Add to the rule").click()
    await expect(page.locator("#rule")).to_have_value("lang = es and status != active")
    await expect(count).to_have_text("1")
    await page.locator("#block-field").fill("age")
    await page.locator("#block-op").select_option(">")
    await page.locator("#block-value").fill("old")
    await page.get_by_role("button", name="Add to the rule").click()
    await expect(page.locator("#block-error")).to_have_text('age > needs a number, not text "old"')
    await expect(page.locator("#rule")).to_have_value("lang = es and status != active")
    await page.locator("#block-value").fill("30")
    await page.get_by_role("button", name="Add to the rule").click()
    await expect(page.locator("#rule")).to_have_value("lang = es and status != active and age > 30")
    await expect(page.locator("#block-error")).to_be_empty()
    await expect(count).to_have_text("0")

    await typed(page, "lang = es and status = active")
    await expect(count).to_have_text("3")
    await page.locator("#segment-name").fill("spanish")
    await page.locator("summary").click()  # the blocks folded again
    await screenshot(page, "segments-builder")
    assert await page.evaluate("Telegram.WebApp.MainButton.text") == "Save segment"
    await page.evaluate("Telegram.WebApp.MainButton.click()")
    await expect(page.locator("#save-result")).to_contain_text(
        "Saved spanish (version 1): 3 members now"
    )
    row = page.locator('#segment-list tr[data-segment="spanish"]')
    await expect(row.locator("[data-size]")).to_have_text("3")

    async with sessionmaker() as session:
        await add_subscribers(session, 1, first_id=401, language="es")
    await row.get_by_role("button", name="Refresh").click()
    await expect(page.locator("#segment-list")).to_contain_text(
        "Refreshed spanish: 4 members (1 entered, 0 left)"
    )
    await expect(row.locator("[data-size]")).to_have_text("4")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390  # a phone's width
    await screenshot(page, "segments")

    await row.get_by_role("button", name="Delete").click()  # Telegram's confirm says yes
    await expect(page.locator("#segment-list")).to_contain_text("Deleted spanish with its history")
    await expect(row).to_have_count(0)
    async with sessionmaker() as session:
        actions = set((await session.scalars(select(AuditLog.action))).all())
    assert {"console segment_save", "console segment_refresh", "console segment_delete"} <= actions


async def test_a_viewer_sees_segments_and_counts_but_changes_nothing(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await people(sessionmaker)
    async with sessionmaker() as session:
        await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())
    page = await console.open(VIEWER, "segments")
    await expect(page.locator('#segment-list tr[data-segment="spanish"]')).to_be_visible()
    await typed(page, "lang = es")
    await expect(page.locator("#count [data-count]")).to_have_text("4")
    for control in ("Refresh", "Delete", "Save segment", "Generate", "Make a persona"):
        await expect(page.get_by_role("button", name=control)).to_have_count(0)
    await expect(page.locator("#segment-name")).to_have_count(0)
    assert await page.evaluate("Telegram.WebApp.MainButton.isVisible") is False

    status, _, _ = await post(console, "segments", VIEWER, {"name": "x", "rule": "lang = es"})
    assert status == 403
    status, _, _ = await post(console, "segments/1", VIEWER, {}, method="DELETE")
    assert status == 403
    status, _, _ = await post(console, "segments/ai", VIEWER, {"verb": "generate"})
    assert status == 403


async def test_a_change_without_its_csrf_token_is_refused_whatever_is_sent(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    signed = {"X-Telegram-Init-Data": init_data(OWNER), "HX-Request": "true"}
    form = {"name": "x", "rule": "lang = es"}
    async with aiohttp.ClientSession() as http:
        for token in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": "é" * 32}):
            headers = {**signed, **token}
            async with http.post(console.url + "segments", data=form, headers=headers) as answer:
                assert answer.status == 403
                assert "CSRF" in await answer.text()
    async with sessionmaker() as session:
        assert (await session.scalars(select(AuditLog.action))).all() == []


async def test_the_live_count_is_rate_limited(console: Console) -> None:
    # All at once: more than the limit lets through in the seconds they take, however
    # slowly a busy machine answers them.
    async with aiohttp.ClientSession() as http:
        headers = await page_headers(http, console, OWNER)

        async def count() -> tuple[int, str]:
            form = {"rule": "lang = es"}
            async with http.post(
                console.url + "segments/count", data=form, headers=headers
            ) as answer:
                return answer.status, answer.headers.get("Retry-After", "")

        answers = await asyncio.gather(*(count() for _ in range(30)))
    statuses = {status for status, _ in answers}
    assert statuses == {200, 429}
    assert all(int(wait) >= 1 for status, wait in answers if status == 429)


async def test_bad_input_answers_4xx_with_the_message(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    status, body = (await post(console, "segments", OWNER, {"name": "", "rule": "lang = es"}))[:2]
    assert (status, "a segment name is 1-64 printable characters" in body) == (422, True)
    status, body = (await post(console, "segments", OWNER, {"name": "x", "rule": "lang =="}))[:2]
    assert status == 422
    assert "at column 7: expected a value" in body
    assert "^" in body
    block = {"rule": "", "field": "nope", "op": "=", "value": "x", "join": "and"}
    status, body, headers = await post(console, "segments/blocks", OWNER, block)
    assert (status, headers["HX-Retarget"]) == (422, "#block-error")
    assert "unknown field &#39;nope&#39;" in body  # escaped, like every output
    status, body = (await post(console, "segments/ai", OWNER, {"k_min": "1"}))[:2]
    assert (status, "the number of segments is from 2 to 50" in body) == (422, True)
    status, body = (await post(console, "segments/999/refresh", OWNER, {}))[:2]
    assert (status, "No such segment" in body) == (404, True)
    status, body = (await post(console, "segments/count", OWNER, {"rule": "<script>"}))[:2]
    assert status == 422
    assert "<script>" not in body
    assert "&lt;script&gt;" in body
    async with sessionmaker() as session:
        await save_segment(session, name="base", rule_text="lang = es", now=utcnow())
        await save_segment(session, name="narrow", rule_text="in segment base", now=utcnow())
    page = await console.open(OWNER, "segments/999")
    await expect(page.locator("#main .error").first).to_have_text(
        "No such segment: it may have been deleted."
    )
    row = page.locator('#segment-list tr[data-segment="base"]')
    await row.get_by_role("button", name="Delete").click()
    await expect(page.locator("#segment-list .error")).to_contain_text("is used by narrow")
    await expect(row).to_have_count(1)


async def test_a_marketer_generates_ai_segments_and_makes_a_persona(
    console: Console, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    page = await console.open(MARKETER, "segments")
    await page.get_by_role("button", name="Generate").click()  # nobody to cluster yet
    await expect(page.locator("#ai .error").first).to_contain_text("subscribers")
    async with sessionmaker() as session:
        await plant(session, per_group=30)
    await page.locator("#ai-k-min").fill("2")
    await page.locator("#ai-k-max").fill("4")
    await page.get_by_role("button", name="Generate").click()
    await expect(page.locator("#ai [role=status]")).to_contain_text(
        "AI segments of 90 active subscribers", timeout=60_000
    )
    cards = page.locator("#ai [data-ai-segment]")
    await expect(cards.first).to_contain_text("Pain points:")
    first = await cards.first.get_attribute("data-ai-segment")
    assert first is not None
    await expect(page.locator(f'#segment-list tr[data-segment="{first}"]')).to_be_visible()
    await cards.first.get_by_role("button", name="Make a persona").click()
    await expect(page.locator("#ai")).to_contain_text(f"Saved the persona {first}")
    await expect(page.locator(f'#ai [data-persona="{first}"]')).to_contain_text(
        f"Audience: segment {first}"
    )
    await expect(page.get_by_role("button", name="Regenerate")).to_be_visible()
    await page.evaluate("window.scrollTo(0, 0)")  # the sticky tabs at the top of the shot
    await screenshot(page, "segments-ai")

    persona = page.locator(f'#ai [data-persona="{first}"]')
    await persona.get_by_role("button", name="Delete").click()  # Telegram's confirm says yes
    await expect(page.locator("#ai")).to_contain_text(f"Deleted the persona {first}")
    await expect(persona).to_have_count(0)
    async with sessionmaker() as session:
        actions = set((await session.scalars(select(AuditLog.action))).all())
    assert "console persona_delete" in actions
