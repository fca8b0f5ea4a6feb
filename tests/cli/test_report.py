"""`segbot report ...` through typer's CliRunner, on the test database."""

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.report import app
from tests.broadcasts.reports.scenario import build
from tests.broadcasts.reports.two_runs import build_two_runs
from tests.cli.conftest import invoke


async def test_campaign_report_with_csv_and_png(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await build(session)
    csv, png = tmp_path / "spring.csv", tmp_path / "spring.png"
    result = await invoke(runner, app, "campaign", "spring", "--csv", str(csv), "--png", str(png))
    assert result.exit_code == 0, result.output
    assert "spring (goal conversions)" in result.output
    assert "Lift against the holdout, in people" in result.output
    assert "A/B spanish (all runs), people who converted: b 2/2 (100.0%), a 1/3 (33.3%)" in (
        result.output
    )
    assert "b vs a: p = 0.400, Fisher's exact test" in result.output
    assert csv.read_text(encoding="utf-8").startswith("run_id,run_started_at,target")
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full to fill")
async def test_a_file_that_cannot_be_written_is_named(
    runner: CliRunner, session: AsyncSession
) -> None:
    await build(session)
    result = await invoke(runner, app, "campaign", "spring", "--csv", "/dev/full")
    assert result.exit_code == 1
    assert "error: cannot write /dev/full: No space left on device" in result.output


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


async def test_a_recurring_campaign_in_people_per_run_and_in_total(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    built = await build_two_runs(session)
    first, second = built.run_ids
    results = tmp_path / "results.csv"
    result = await invoke(runner, app, "campaign", "weekly", "--results-csv", str(results))
    assert result.exit_code == 0, result.output
    rows = [[cell.strip() for cell in line.split("│")[1:7]] for line in result.output.splitlines()]
    lift_rows = [row for row in rows if row and row[0].startswith(("all runs", "run "))]
    assert lift_rows == [
        ["all runs", "default", "5", "4 (80.0%)", "1", "1 (100.0%)"],
        [f"run {first}", "default", "4", "3 (75.0%)", "2", "2 (100.0%)"],
        [f"run {second}", "default", "4", "3 (75.0%)", "1", "1 (100.0%)"],
    ]
    assert "Across runs each person counts once" in result.output
    assert "A/B default (all runs), people who converted: a 2/2 (100.0%), b 1/2 (50.0%)" in (
        result.output
    )
    assert "  1 sent more than one variant: left out" in result.output
    assert f"A/B default (run {first}), people who converted: b 1/2 (50.0%), a 0/2" in (
        result.output
    )
    assert "  a vs b: p = 1.000, Fisher's exact test" in result.output
    assert f"wrote {results}" in result.output
    header, *lines = results.read_text(encoding="utf-8").splitlines()
    assert header.startswith("analysis,run,target,metric,group,people,succeeded,rate,versus")
    assert len(lines) == 6  # lift and A/B, each for all runs and for both runs
