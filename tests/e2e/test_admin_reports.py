"""Reports and exports through the emulator: /report answers with a table, a funnel chart
and a CSV (and, for a campaign with a holdout or variants, lift and A/B results in people
with the test used, and their CSV); /stats with a chart; /export with a CSV whose hashes
match contacts normalised independently here (and the same export from `segbot export`)."""

import csv
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from typer.testing import CliRunner

from broadcasts.campaigns import save_campaign
from broadcasts.planner import plan_run
from broadcasts.spec import parse_campaign
from cli.app import app
from core.clock import utcnow
from demo.admin import show_admin_console
from segments.saved import save_segment
from telegram_emulator import Emulator, SentMessage
from tests.bot.admin.console import OWNER, VIEWER, Chat, add_people, add_staff, running_console
from tests.broadcasts.reports.two_runs import build_two_runs
from tests.cli.conftest import invoke
from tests.polling import until

pytestmark = [pytest.mark.e2e]
PNG = b"\x89PNG\r\n\x1a\n"
PEOPLE = [
    {
        "telegram_id": 1001,
        "first_name": "Ana",
        "language_code": "es",
        "phone": "+34600111222",
        "email": "Ana.Lopez@Example.com",
    },
    {"telegram_id": 1002, "language_code": "es", "phone": "+14155550100"},
    {"telegram_id": 1003, "language_code": "es"},  # no contact: not in the hashed export
    {"telegram_id": 1004, "language_code": "en", "email": "bob@example.com"},
]


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
async def emulator(database_url: str, engine: AsyncEngine) -> AsyncIterator[Emulator]:
    async with running_console(database_url) as emulator:
        yield emulator


@pytest.fixture
async def shop(session: AsyncSession, emulator: Emulator) -> None:
    await add_staff(session)
    await add_people(session, emulator, *PEOPLE)
    await save_segment(session, name="spanish", rule_text="lang = es", now=utcnow())


def saved_images(folder: Path) -> dict[str, bytes]:
    return {
        path.name.split("-", 1)[0] + "-" + path.name.rsplit("-", 1)[1]: path.read_bytes()
        for path in folder.iterdir()
    }


def rows_of(document: SentMessage) -> list[dict[str, str]]:
    assert document.document is not None
    assert document.file_content is not None
    return list(csv.DictReader(io.StringIO(document.file_content.decode())))


async def test_report_answers_with_a_table_a_chart_and_a_csv(
    emulator: Emulator, shop: None, session: AsyncSession
) -> None:
    spec = parse_campaign("name: hola\naudience:\n  - segment: spanish\n    text: Hola\n")
    campaign = await save_campaign(session, spec=spec, now=utcnow())
    await plan_run(session, campaign=campaign, now=utcnow())
    await until(
        lambda: all(emulator.messages_to(n) for n in (1001, 1002, 1003)),
        what="the campaign to reach 1001, 1002 and 1003",
    )
    chat = Chat(emulator, VIEWER)
    (view,) = await chat.say(f"/campaign {campaign.id}")
    try:
        await until(lambda: " — done" in chat.current(view).plain_text, what="the run done")
    except TimeoutError:
        raise AssertionError(chat.current(view).plain_text) from None

    text, chart, document = await chat.say(f"/report {campaign.id}", replies=3)
    assert "spanish/a" in text.plain_text
    assert chart.photo is not None
    assert chart.file_content is not None
    assert chart.file_content.startswith(PNG)
    rows = rows_of(document)
    assert rows[-1]["sent"] == "3"


async def test_report_counts_people_and_names_the_test(
    emulator: Emulator, shop: None, session: AsyncSession
) -> None:
    built = await build_two_runs(session)  # its table has every person and order
    chat = Chat(emulator, VIEWER)
    text, chart, funnel, results = await chat.say(f"/report {built.campaign_id}", replies=4)
    lines = text.plain_text.splitlines()
    assert "Lift and A/B below count every run together; the results CSV has each run." in lines
    assert (
        "Lift for default (all runs), in people: messaged 4/5 bought, holdout 1/1; "
        "-62.4 to +61.0 points (95% interval), p = 1.000, Fisher's exact test"
    ) in lines
    assert lines[-4:] == [
        "A/B default (all runs), people who converted: a 2/2 (100.0%), b 1/2 (50.0%)",
        "  a vs b: p = 1.000, Fisher's exact test",
        "  1 sent more than one variant: left out",
        "  no winner yet (no variant is significantly better at 0.05)",
    ]
    assert chart.photo is not None
    assert rows_of(funnel)[-1]["sent"] == "8"  # the funnel counts messages
    rows = rows_of(results)
    runs = ["all", *map(str, built.run_ids)]
    assert [(row["analysis"], row["run"]) for row in rows] == [
        *(("lift", run) for run in runs),
        *(("ab", run) for run in runs),
    ]
    assert {row["test"] for row in rows} == {"Fisher's exact test"}


async def test_stats_answers_with_a_chart(emulator: Emulator, shop: None) -> None:
    text, chart = await Chat(emulator, VIEWER).say("/stats", replies=2)
    assert text.plain_text.startswith("Audience: 4 subscribers, 4 active")
    assert chart.file_content is not None
    assert chart.file_content.startswith(PNG)


async def test_export_hashes_match_independently_normalised_contacts(
    emulator: Emulator, shop: None, runner: CliRunner, tmp_path: Path
) -> None:
    owner = Chat(emulator, OWNER)
    (hashed,) = await owner.say("/export spanish")
    assert rows_of(hashed) == [
        {"email": sha256("ana.lopez@example.com"), "phone": sha256("34600111222")},
        {"email": "", "phone": sha256("14155550100")},
    ]
    assert "1 without phone or email left out" in hashed.plain_text
    (ids,) = await owner.say("/export spanish ids")
    assert [row["telegram_id"] for row in rows_of(ids)] == ["1001", "1002", "1003"]

    out = tmp_path / "spanish.csv"
    result = await invoke(runner, app, "export", "spanish", "--format", "hashed", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == hashed.file_content
    missing = await invoke(runner, app, "export", "nosuch")
    assert missing.exit_code == 1  # a name nothing has
    assert "no segment named 'nosuch'" in missing.output


async def test_the_demo_saves_the_charts_the_admin_received(
    emulator: Emulator, shop: None, session: AsyncSession, tmp_path: Path
) -> None:
    spec = parse_campaign("name: demo\naudience:\n  - segment: spanish\n    text: Hola\n")
    await save_campaign(session, spec=spec, now=utcnow())
    printed = io.StringIO()
    folder = await show_admin_console(
        emulator, OWNER, into=tmp_path, console=Console(file=printed, width=120)
    )
    assert folder == tmp_path
    charts = saved_images(tmp_path)
    assert sorted(charts) == ["report-2.png", "stats-2.png"]
    assert all(content.startswith(PNG) for content in charts.values())
    assert str(tmp_path) in printed.getvalue().replace("\n", "")
