"""`segbot crm ...` through typer's CliRunner, on the test database."""

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from cli.crm import app
from tests.crm_sync.conftest import ORDER_HEADER, write_csv


@pytest.fixture
def crm_cli(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],  # empties the tables afterwards
) -> CliRunner:
    monkeypatch.setenv("SEGBOT_DATABASE_URL", database_url)
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


def test_import_then_status_then_rejected(
    crm_cli: CliRunner, shop_files: tuple[Path, Path], tmp_path: Path
) -> None:
    customers, orders = shop_files
    write_csv(
        orders,
        ORDER_HEADER,
        [
            ("o1", "c1", "2026-01-10T10:00:00Z", "100", "EUR", "completed"),
            ("o2", "c1", "not a date", "10", "EUR", "completed"),
        ],
    )
    imported = crm_cli.invoke(
        app, ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    )
    assert imported.exit_code == 0, imported.output
    assert "run #" in imported.stdout
    assert "succeeded" in imported.stdout
    assert "segbot crm rejected --run" in imported.stdout

    again = crm_cli.invoke(
        app, ["import", "--customers", str(customers), "--orders", str(orders), "--source", "shop"]
    )
    assert again.exit_code == 0
    assert "│ shop   │ orders    │ 2    │ 0        │ 0       │ 1         │ 1" in again.stdout

    status = crm_cli.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    assert "shop" in status.stdout
    assert "subscribers matched to a customer: 0 of 0" in status.stdout

    rejected = crm_cli.invoke(app, ["rejected"])
    assert rejected.exit_code == 0, rejected.output
    assert "1 rejected" in rejected.stdout
    assert "missing or unparsable order date" in rejected.stdout


def test_import_needs_a_file_and_says_so_in_one_line(crm_cli: CliRunner) -> None:
    result = crm_cli.invoke(app, ["import"])
    assert result.exit_code == 2
    assert result.stderr == "error: give --customers FILE and/or --orders FILE\n"


def test_a_failed_import_exits_1_with_the_reason(crm_cli: CliRunner, tmp_path: Path) -> None:
    orders = write_csv(tmp_path / "orders.csv", ("order_id",), [("o1",)])
    result = crm_cli.invoke(app, ["import", "--orders", str(orders)])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: files: run #")
    assert "no column for customer_external_id, ordered_at, amount" in result.stderr


def test_sync_without_connectors_says_what_to_configure(crm_cli: CliRunner) -> None:
    result = crm_cli.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "no CRM connectors configured" in result.stderr


@pytest.mark.parametrize("command", [[], ["import"], ["sync"], ["status"], ["rejected"]])
def test_every_crm_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
