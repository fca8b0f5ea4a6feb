"""`segbot crm ...` through typer's CliRunner, on the test database."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.crm import app
from tests.crm_sync.shop import ORDER_HEADER, write_csv, write_shop_files


def test_import_then_status_then_rejected(runner: CliRunner, tmp_path: Path) -> None:
    customers, orders = write_shop_files(tmp_path)
    write_csv(
        orders,
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
            ("o2", "c1", "not a date", "10", "EUR", "completed"),
        ],
    )
    imported = runner.invoke(
        app, ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    )
    assert imported.exit_code == 0, imported.output
    assert "run #" in imported.stdout
    assert "succeeded" in imported.stdout
    assert "segbot crm rejected --run" in imported.stdout

    again = runner.invoke(
        app, ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    )
    assert again.exit_code == 0
    assert "│ shop   │ orders    │ 2    │ 0        │ 0       │ 1         │ 1" in again.stdout

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "shop" in status.stdout
    assert "subscribers matched to a customer: 0 of 0" in status.stdout

    rejected = runner.invoke(app, ["rejected"])
    assert rejected.exit_code == 0, rejected.output
    # Bob's 600000002 is no phone in the default region (US): he is kept, without it.
    assert (
        "(shop): 1 row rejected, 1 value left out of rows stored without them; showing 2"
        in rejected.stdout
    )
    assert "missing or unparsable order date" in rejected.stdout
    assert "phone left out: not a phone number" in rejected.stdout


def test_import_needs_a_file_and_says_so_in_one_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["import"])
    assert result.exit_code == 2
    assert result.stderr == "error: give --customers FILE and/or --orders FILE\n"


def test_a_failed_import_exits_1_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    orders = write_csv(tmp_path / "orders.csv", ("order_id",), [("o1",)])
    result = runner.invoke(app, ["import", "--orders", str(orders)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: files: run #")
    assert "no column for customer_external_id, ordered_at, amount" in result.stderr


def test_sync_without_connectors_says_what_to_configure(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "no CRM connectors configured" in result.stderr


@pytest.mark.parametrize("command", [[], ["import"], ["sync"], ["status"], ["rejected"]])
def test_every_crm_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
