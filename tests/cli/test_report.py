"""`segbot report ...` through typer's CliRunner, on the test database."""

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.report import app
from tests.broadcasts.reports.scenario import build
from tests.cli.conftest import invoke


async def test_campaign_report_with_csv_and_png(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await build(session)
    csv, png = tmp_path / "spring.csv", tmp_path / "spring.png"
    result = await invoke(runner, app, "campaign", "spring", "--csv", str(csv), "--png", str(png))
    assert result.exit_code == 0, result.output
    assert "spring (goal conversions)" in result.output
    assert "Lift against the holdout" in result.output
    assert "A/B spanish, converted" in result.output
    assert csv.read_text(encoding="utf-8").startswith("run_id,run_started_at,target")
    assert png.read_bytes().startswith(b"\x89PNG")


async def test_bad_input_is_one_line_and_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = await invoke(runner, app, "campaign", "nope")
    assert result.exit_code == 1  # a name nothing has
    assert "no campaign 'nope'" in result.output
    config = tmp_path / "segbot.yaml"
    config.write_text("reports: {attribution_days: -1}\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEGBOT_CONFIG", str(config))
        result = await invoke(runner, app, "segments")
    assert result.exit_code == 2
    assert "reports.attribution_days" in result.output


async def test_segments_report_on_an_empty_audience(runner: CliRunner) -> None:
    result = await invoke(runner, app, "segments", "--days", "7")
    assert result.exit_code == 0, result.output
    assert "no saved segments yet" in result.output
    assert "last 7 days" in result.output
