"""`segbot rfm` and `segbot segments refresh` with fewer customers than RFM's minimum:
they say so, store no scores, and score once `rfm.min_customers` allows it."""

from datetime import timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.segments import app, rfm_app
from core.clock import utcnow
from segments.rfm.store import rfm_table
from tests.cli.conftest import invoke
from tests.segments.rfm.ties import SEVEN, add_shop

TOO_FEW = "not scored: RFM needs at least 20 customers with orders; there are 7 "
TOO_FEW += "(rfm.min_customers in segbot.yaml)"


async def test_rfm_says_it_needs_more_customers_and_stores_nothing(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await add_shop(session, SEVEN, now=utcnow())
    exported = tmp_path / "rfm.csv"
    result = await invoke(runner, rfm_app, "--csv", str(exported))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"RFM as of {utcnow().date()}: {TOO_FEW}",
        f"wrote 0 customers to {exported}",
    ]
    assert pd.read_csv(exported).empty
    assert (await rfm_table(session)).empty

    day = (utcnow() - timedelta(days=1)).date().isoformat()
    looked = await invoke(runner, rfm_app, "--as-of", day)
    assert looked.stdout.splitlines() == [f"RFM as of {day}: {TOO_FEW}"]

    refreshed = await invoke(runner, app, "refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert f"rfm: {TOO_FEW}" in refreshed.stdout


async def test_with_no_customer_it_says_to_import_them(runner: CliRunner) -> None:
    result = await invoke(runner, rfm_app)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        "not scored: RFM needs at least 20 customers with orders; there are 0 (segbot crm import)\n"
    )


async def test_a_lower_minimum_in_segbot_yaml_scores_them(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    (tmp_path / "segbot.yaml").write_text("rfm:\n  min_customers: 7\n", encoding="utf-8")
    await add_shop(session, SEVEN, now=utcnow())
    result = await invoke(runner, rfm_app)
    assert result.exit_code == 0, result.output
    assert f"RFM as of {utcnow().date()}: 7 customers (stored)" in result.stdout
    stored = await rfm_table(session)
    assert set(stored["segment"]) == {"hibernating"}  # seven alike share one score


async def test_a_minimum_that_is_not_a_count_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "segbot.yaml").write_text("rfm: {min_customers: 0}\n", encoding="utf-8")
    result = await invoke(runner, rfm_app)
    assert result.exit_code == 2
    assert "rfm.min_customers: Input should be greater than or equal to 1" in result.stderr
