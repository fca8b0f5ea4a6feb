"""No `segbot` command fails quietly: a name nothing has says so with the names there are
(exit 1), a refresh that could not refresh exits 1, a report of nothing exits 1, and a
misspelt `SEGBOT_*` variable is a warning naming the setting meant."""

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from broadcasts.campaigns import UnknownCampaignError
from cli.campaign import app as campaign_app
from cli.crm import app as crm_app
from cli.personas import app as personas_app
from cli.report import app as report_app
from cli.segments import app as segments_app
from cli.segments import rfm_app
from cli.unknown_names import SHOWN, UnknownNameError, known_names
from segments.ai.personas import UnknownPersonaError
from tests.broadcasts.audience import add_subscribers, campaign_from
from tests.cli.conftest import invoke

SEGBOT = str(Path(sys.executable).parent / "segbot")


async def test_refreshing_a_segment_nothing_has_names_those_there_are(
    runner: CliRunner, session: AsyncSession
) -> None:
    await add_subscribers(session, 2, language="es")
    nothing_yet = await invoke(runner, segments_app, "refresh", "nope")
    assert (nothing_yet.exit_code, nothing_yet.stdout) == (1, "")
    assert nothing_yet.stderr == (
        "error: no segment named 'nope'; there are no segments yet "
        "(segbot segments save NAME RULE)\n"
    )
    for name in ("spanish", "everyone"):
        saved = await invoke(runner, segments_app, "save", name, "lang = es")
        assert saved.exit_code == 0, saved.output

    refreshed = await invoke(runner, segments_app, "refresh", "spanish", "nope", "nix")
    assert (refreshed.exit_code, refreshed.stdout) == (1, "")
    assert refreshed.stderr == (
        "error: no segment named 'nix', 'nope'; the segments are: everyone, spanish\n"
    )
    listed = await invoke(runner, segments_app, "list")
    assert "never" in listed.stdout  # spanish was not refreshed either
    shown = await invoke(runner, segments_app, "show", "spansh")
    assert shown.exit_code == 1
    assert shown.stderr == (
        "error: no segment named 'spansh'; the segments are: everyone, spanish\n"
    )


async def test_a_segment_that_cannot_refresh_exits_1(
    runner: CliRunner, session: AsyncSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_subscribers(session, 2, language="es")
    for name, rule in (("best", "rfm = champions"), ("spanish", "lang = es")):
        saved = await invoke(runner, segments_app, "save", name, rule)
        assert saved.exit_code == 0, saved.output
    config = tmp_path / "segbot.yaml"  # an RFM map without `champions`
    config.write_text(
        "rfm: {segments: {recent: {r: 3-5, f: 1-5}, lapsed: {r: 1-2, f: 1-5}}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SEGBOT_CONFIG", str(config))
    result = await invoke(runner, segments_app, "refresh", "best", "spanish")
    assert result.exit_code == 1
    assert "rfm is one of recent, lapsed" in result.stdout  # the problem column
    assert "│ spanish │ 2 " in result.stdout  # the rest did refresh
    assert result.stderr == "error: not refreshed (see the problem column): best\n"


async def test_unknown_campaigns_are_told_with_the_campaigns_there_are(
    runner: CliRunner, session: AsyncSession
) -> None:
    await campaign_from(session, "name: welcome\ndefault: {text: 'Hi'}\n")
    await campaign_from(session, "name: sale\ndefault: {text: 'Hi'}\n")
    for app, args in (
        (campaign_app, ["show", "wellcome"]),
        (campaign_app, ["send-now", "wellcome", "--no-wait"]),
        (report_app, ["campaign", "wellcome"]),
    ):
        result = await invoke(runner, app, *args)
        assert result.exit_code == 1, args
        assert result.stderr == (
            "error: no campaign 'wellcome': give its id or name; the campaigns are: welcome, sale\n"
        ), args


async def test_a_report_of_a_campaign_that_never_sent_exits_1(
    runner: CliRunner, session: AsyncSession
) -> None:
    await campaign_from(session, "name: welcome\ndefault: {text: 'Hi'}\n")
    result = await invoke(runner, report_app, "campaign", "welcome")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: campaign 'welcome' has not sent yet: nothing to report "
        "(segbot campaign send-now welcome)\n"
    )


async def test_a_persona_from_a_segment_nothing_has(runner: CliRunner) -> None:
    result = await invoke(runner, personas_app, "from-segment", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no segment named 'nope'; there are no segments yet")


async def test_personas_are_listed_too_and_long_listings_are_cut_short(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    """Chat commands name personas as well: the same listing for them."""
    told = await known_names(UnknownPersonaError("no persona named 'x'"), sessionmaker)
    assert isinstance(told, UnknownNameError)
    assert str(told) == (
        "no persona named 'x'; there are no personas yet (segbot personas create NAME ...)"
    )
    for number in range(SHOWN + 1):
        await campaign_from(session, f"name: c{number:02d}\ndefault: {{text: 'Hi'}}\n")
    many = await known_names(UnknownCampaignError("no campaign 'x'"), sessionmaker)
    assert str(many).endswith(", c18, c19 and 1 more (segbot campaign list)")


def test_a_misspelt_setting_is_a_warning_naming_the_one_meant(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SEGBOT_SECRT_KEY=do-not-show-me\n", encoding="utf-8")
    result = subprocess.run(  # noqa: S603  (our own console script)
        [SEGBOT, "db", "current"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            "PATH": "",
            "SEGBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'segbot.db'}",
            "SEGBOT_BOT_TOKN": "123:do-not-show-me-either",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: SEGBOT_BOT_TOKN is not a segbot setting and is ignored; "
        "did you mean SEGBOT_BOT_TOKEN?",
        "warning: SEGBOT_SECRT_KEY (in .env) is not a segbot setting and is ignored; "
        "did you mean SEGBOT_SECRET_KEY?",
    ]


async def test_a_file_that_cannot_be_written_is_named(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    """Not taken for the database, as it once was."""
    nowhere = tmp_path / "no such folder" / "out.csv"
    scores = await invoke(runner, rfm_app, "--csv", str(nowhere))
    assert scores.exit_code == 1
    assert scores.stderr.startswith(f"error: cannot write {nowhere}: ")
    await campaign_from(session, "name: welcome\ndefault: {text: 'Hi'}\n")
    await add_subscribers(session, 1)
    queued = await invoke(runner, campaign_app, "send-now", "welcome", "--no-wait")
    run_id = queued.stdout.split(":")[0].removeprefix("run ")
    listed = await invoke(runner, campaign_app, "unknown", run_id, "--csv", str(nowhere))
    assert listed.exit_code == 1
    assert listed.stderr == f"error: cannot use {nowhere}: No such file or directory\n"


async def test_a_connector_nothing_has_is_told_with_those_configured(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "segbot.yaml"
    config.write_text(
        "crm: {connectors: [{name: shop, type: files, customers: customers.csv}]}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SEGBOT_CONFIG", str(config))
    result = await invoke(runner, crm_app, "sync", "--connector", "shp")
    assert result.exit_code == 1
    assert result.stderr == "error: crm: no connector named 'shp' (known: shop)\n"
