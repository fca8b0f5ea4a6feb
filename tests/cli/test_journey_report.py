"""`segbot report journey NAME [--csv --png]` through typer's CliRunner, on the test
database, against the hand-counted scenario (tests/journeys/report_scenario.py)."""

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.app import app
from tests.cli.conftest import invoke
from tests.journeys.report_scenario import build, save


def cells(output: str, first: str) -> list[str]:
    """The cells of the table row that begins with `first`."""
    for line in output.splitlines():
        row = [cell.strip() for cell in line.split("│")[1:-1]]
        if row and row[0] == first:
            return row
    raise AssertionError(f"no row {first!r} in:\n{output}")


async def test_the_report_with_csv_and_png(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await build(session)
    csv, png = tmp_path / "welcome.csv", tmp_path / "welcome.png"
    result = await invoke(
        runner, app, "report", "journey", "welcome", "--csv", str(csv), "--png", str(png)
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "welcome (live, version 1): trigger subscribed; goal purchased within 1w" in out
    assert "11 entries by 10 people: 4 held out, 4 inside now, 1 converted; left: goal 1, " in out
    # step, action, reached, waiting, sent, not sent, read, clicked, replied, went,
    # converted, orders, revenue, left here
    assert cells(out, "hello") == [
        "hello", "send", "7", "2", "4", "1", "3", "1", "1", "-", "1", "0", "0.00", "-"
    ]  # fmt: skip
    assert cells(out, "clicked")[9] == "yes 1, no 1"
    assert cells(out, "pause")[-1] == "unsubscribed 1, blocked 1"
    assert cells(out, "thanks")[11:13] == ["1", "100.00"]
    assert "Lift against the holdout, in people: in the journey 1/7 converted (14.3%)" in out
    assert "Fisher's exact test" in out
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("journey,version,step,action,in_latest_version,reached")
    assert len(lines) == 1 + 6 + 1
    assert png.read_bytes().startswith(b"\x89PNG")


async def test_a_journey_nobody_entered_yet(runner: CliRunner, session: AsyncSession) -> None:
    await save(session)
    result = await invoke(runner, app, "report", "journey", "welcome")
    assert result.exit_code == 0, result.output
    assert "0 entries by 0 people: 0 held out, 0 inside now, 0 converted; left: nobody" in (
        result.output
    )
    assert cells(result.output, "settle")[:4] == ["settle", "wait", "0", "0"]


async def test_an_unknown_journey_or_an_unwritable_file_fails_in_one_line(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await save(session)
    missing = await invoke(runner, app, "report", "journey", "nope")
    assert missing.exit_code == 1  # a name nothing has, with the names there are
    assert "error: no journey named 'nope'; the journeys are: welcome" in missing.output
    assert "Traceback" not in missing.output
    folder = tmp_path / "missing" / "welcome.csv"
    unwritable = await invoke(runner, app, "report", "journey", "welcome", "--csv", str(folder))
    assert unwritable.exit_code == 1
    assert f"error: cannot write {folder}" in unwritable.output
