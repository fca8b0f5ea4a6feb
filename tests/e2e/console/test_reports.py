"""The Reports page in real Chromium, opened by a viewer: a campaign's funnel per target
and variant with the domain report's numbers, its chart drawn, lift and A/B in the CLI's
words, a journey step by step, and CSV files identical to `segbot report ... --csv`.
A viewer sees no edit control anywhere and is refused any change; a download link works
for its admin only as long as their role allows reports."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from broadcasts.reports import CampaignReport, campaign_report
from cli.app import app
from core.clock import utcnow
from core.models import Admin
from journeys.reports import journey_report
from journeys.reports.words import lift_line
from segments.saved import save_segment
from tests.broadcasts.reports.two_runs import build_two_runs
from tests.cli.conftest import invoke
from tests.e2e.console.browser import init_data, screenshot
from tests.e2e.console.conftest import VIEWER, Console
from tests.journeys import report_scenario

pytestmark = pytest.mark.e2e
WINDOW = timedelta(days=7)  # reports.attribution_days when segbot.yaml says nothing
ROWS = """rows => rows.map(row => Object.fromEntries([...row.querySelectorAll("td[data-field]")]
    .map(cell => [cell.dataset.field, cell.textContent.trim()])))"""
CONTROLS = "#main [hx-post], #main [hx-put], #main [hx-patch], #main [hx-delete]"
REQUESTS = """elements => elements.flatMap(element => ["post", "put", "patch", "delete"]
    .filter(method => element.hasAttribute("hx-" + method))
    .map(method => [method.toUpperCase(), element.getAttribute("hx-" + method)]))"""
CSRF = "X-CSRF-Token"


async def table(page: Page, name: str) -> list[dict[str, str]]:
    """The cells of a report table's body rows, by their `data-field`."""
    found: list[dict[str, str]] = await page.eval_on_selector_all(
        f'table[data-table="{name}"] tbody tr', ROWS
    )
    return found


async def chart(page: Page) -> dict[str, Any]:
    """What Chart.js drew on the page's chart: its labels and datasets."""
    canvas = page.locator("#main canvas[data-chart]")
    await expect(canvas).to_have_attribute("data-drawn", "1")
    drawn: dict[str, Any] = await canvas.evaluate(
        "canvas => { const chart = Chart.getChart(canvas); return {labels: chart.data.labels,"
        " datasets: chart.data.datasets.map(set => [set.label, set.data])}; }"
    )
    return drawn


async def download(page: Page, link: str, folder: Path) -> tuple[str, bytes]:
    async with page.expect_download() as started:
        await page.get_by_role("link", name=link).click()
    got = await started.value
    saved = folder / got.suggested_filename
    await got.save_as(saved)
    return got.suggested_filename, saved.read_bytes()


async def cli_csv(runner: CliRunner, folder: Path, *command: str) -> bytes:
    written = folder / "cli.csv"
    result = await invoke(runner, app, "report", *command, "--csv", str(written))
    assert result.exit_code == 0, result.output
    return written.read_bytes()


def funnel_rows(report: CampaignReport) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The two funnel tables as the page should show them, from the domain report (its
    messages all sent or held out: nothing else to say in words)."""
    counts = [row.counts for row in report.rows]
    assert all(c.sent + c.excluded_total == c.targeted for c in counts)
    messages = [
        {"targeted": str(c.targeted), "excluded": str(c.excluded_total), "sent": str(c.sent),
         "not_sent": "0"}
        for c in counts
    ]  # fmt: skip
    response = [
        {"read": str(c.read), "clicked": str(c.clicked), "converted": str(c.converted),
         "conversions": str(c.conversions), "revenue": f"{c.revenue:.2f}"}
        for c in counts
    ]  # fmt: skip
    return messages, response


async def test_a_viewer_reads_a_campaign_report_and_downloads_the_cli_s_csv(
    console: Console,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    built = await build_two_runs(session)
    await report_scenario.build(session, paused=True)  # paused: the bot moves nobody on
    page = await console.open(VIEWER, "reports")
    await expect(page.locator("#main h1")).to_have_text("Reports")
    await expect(page.locator('#main table[data-table="journeys"]')).to_contain_text("welcome")
    await screenshot(page, "reports")
    await page.get_by_role("link", name="weekly").click()
    await expect(page.locator("#main h1")).to_have_text("Campaign weekly")
    assert page.url == f"{console.url}reports/campaigns/{built.campaign_id}"

    async with sessionmaker() as reading:
        report = await campaign_report(
            reading, campaign_id=built.campaign_id, now=utcnow(), window=WINDOW
        )
    messages, response = funnel_rows(report)
    assert await table(page, "messages") == messages
    assert await table(page, "response") == response
    assert len(messages) == 4  # two runs x variants a and b
    drawn = await chart(page)
    assert drawn["labels"] == ["Targeted", "Sent", "Read (inferred)", "Clicked", "Converted"]
    assert [name for name, _ in drawn["datasets"]] == ["default/a", "default/b"]
    lift = page.locator("#main [data-lift]").first
    await expect(lift).to_contain_text("default (all runs)")
    await expect(lift).to_contain_text("-62.4 to +61.0 points")
    await expect(lift).to_contain_text("not significant at 0.05")
    (everyone, *_each_run) = report.ab
    await expect(page.locator("#main [data-ab]").first).to_have_text("\n".join(everyone.lines()))
    await screenshot(page, "reports-campaign")

    name, funnel = await download(page, "Funnel CSV", tmp_path)
    assert name == "weekly-report.csv"
    assert funnel == await cli_csv(runner, tmp_path, "campaign", str(built.campaign_id))
    name, results = await download(page, "Lift and A/B CSV", tmp_path)
    assert name == "weekly-results.csv"
    written = tmp_path / "results.csv"
    result = await invoke(
        runner, app, "report", "campaign", "weekly", "--results-csv", str(written)
    )
    assert result.exit_code == 0, result.output
    assert results == written.read_bytes()


async def test_a_viewer_reads_a_journey_step_by_step(
    console: Console,
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    await report_scenario.build(session, paused=True)  # paused: the bot moves nobody on
    page = await console.open(VIEWER, "reports/journeys/welcome")
    await expect(page.locator("#main h1")).to_have_text("Journey welcome")
    async with sessionmaker() as reading:
        report = await journey_report(reading, name="welcome", now=utcnow(), window=WINDOW)
    assert await table(page, "steps") == [
        {"reached": str(row.places.reached), "waiting": str(row.places.waiting),
         "converted": str(row.places.converted)}
        for row in report.steps
    ]  # fmt: skip
    assert await table(page, "messages") == [
        {"sent": str(row.messages.sent), "read": str(row.messages.read),
         "clicked": str(row.messages.clicked), "replied": str(row.messages.replied),
         "revenue": f"{row.messages.revenue:.2f}"}
        for row in report.steps
        if row.action == "send"
    ]  # fmt: skip
    drawn = await chart(page)
    assert drawn["labels"] == [row.step for row in report.steps]
    assert drawn["datasets"][0] == ["Reached", [row.places.reached for row in report.steps]]
    assert report.lift is not None
    await expect(page.locator("#main [data-lift]")).to_have_text(lift_line(report.lift))
    await screenshot(page, "reports-journey")

    name, steps = await download(page, "Steps CSV", tmp_path)
    assert name == "journey-welcome.csv"
    assert steps == await cli_csv(runner, tmp_path, "journey", "welcome")


async def test_a_viewer_sees_no_edit_control_anywhere(
    console: Console, session: AsyncSession
) -> None:
    built = await build_two_runs(session)
    await report_scenario.build(session, paused=True)
    await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())
    page = await console.open(VIEWER)
    await expect(page.locator("#main")).to_contain_text("viewer")
    signed = await signed_in(console, VIEWER)
    for path in (
        "", "audience", "segments", "campaigns", "journeys", "reports",
        f"reports/campaigns/{built.campaign_id}", "reports/journeys/welcome",
    ):  # fmt: skip
        await page.goto(console.url + path)
        await page.wait_for_load_state("networkidle")  # the page's own htmx request answered
        # What a viewer may still send (a live count, a search) is read-only: their role
        # allows it. A control their role refuses is an edit control shown by mistake.
        requests = {
            (method, url) for method, url in await page.eval_on_selector_all(CONTROLS, REQUESTS)
        }
        for method, url in sorted(requests):
            status = await answer_to(method, console.url.removesuffix("/console/") + url, signed)
            assert status != 403, f"{path}: {method} {url}, an edit control, is shown"
    await expect(page.locator("#main h1")).to_have_text("Journey welcome")
    assert await page.locator(f"#main form, #main button, {CONTROLS}").count() == 0


@pytest.mark.parametrize("path", ["segments", "campaigns"])
async def test_a_viewer_s_forged_post_is_refused(console: Console, path: str) -> None:
    signed = await signed_in(console, VIEWER)
    without_csrf = {key: value for key, value in signed.items() if key != CSRF}
    for headers in (without_csrf, signed):
        status = await answer_to("POST", console.url + path, headers)
        assert status == 403, headers.keys()


async def signed_in(console: Console, user_id: int) -> dict[str, str]:
    """The headers of the console's own requests for `user_id`: initData and the CSRF
    token the console hands that sign-in."""
    signed = {"X-Telegram-Init-Data": init_data(user_id), "HX-Request": "true"}
    async with aiohttp.ClientSession() as http, http.get(console.url, headers=signed) as answer:
        assert answer.status == 200
        return {**signed, CSRF: answer.headers[CSRF]}


async def answer_to(method: str, url: str, headers: dict[str, str]) -> int:
    form = {"name": "forged", "rule": "lang = es", "text": "forged"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, url, headers=headers, data=form) as answer,
    ):
        return answer.status


async def test_a_download_link_serves_its_admin_only_while_they_may_read_reports(
    console: Console, session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    built = await build_two_runs(session)
    page = await console.open(VIEWER, f"reports/campaigns/{built.campaign_id}")
    link = page.get_by_role("link", name="Funnel CSV")
    href = await link.get_attribute("href")
    assert href is not None
    assert str(VIEWER) in href  # whose it is, signed; no subscriber's data
    url = console.url.removesuffix("/console/") + href
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as answer:  # no credential but the link's own
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
            assert "no-store" in answer.headers["Cache-Control"]
        async with http.get(url.replace(f":{VIEWER}:", ":7001:")) as answer:  # the owner's?
            assert answer.status == 403
            assert "not a download link" in await answer.text()
        async with sessionmaker() as removing:
            await removing.execute(delete(Admin).where(Admin.user_id == VIEWER))
            await removing.commit()
        async with http.get(url) as answer:
            assert answer.status == 403
            assert "role does not allow" in await answer.text()


async def test_an_unknown_campaign_or_journey_is_named_not_a_crash(console: Console) -> None:
    page = await console.open(VIEWER, "reports/campaigns/999")
    await expect(page.locator("#main h1")).to_have_text("Not found")
    await expect(page.locator("#main .error")).to_have_text(
        "no campaign '999': give its id or name"
    )
    await page.goto(console.url + "reports/journeys/nope")
    await expect(page.locator("#main .error")).to_have_text("no journey named 'nope'")
    signed = {"X-Telegram-Init-Data": init_data(VIEWER), "HX-Request": "true"}
    too_long = console.url + "reports/campaigns/" + "9" * 40  # no id: no query either
    async with aiohttp.ClientSession() as http, http.get(too_long, headers=signed) as answer:
        assert answer.status == 404
