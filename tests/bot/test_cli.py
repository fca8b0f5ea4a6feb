"""`segbot` as a user runs it: in a subprocess, judged by its output and exit code."""

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app

SEGBOT = str(Path(sys.executable).parent / "segbot")


def segbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own console script)
        [SEGBOT, *args], capture_output=True, text=True, timeout=60, env={"PATH": "", **env}
    )


def test_run_without_a_token_says_so_in_one_line() -> None:
    result = segbot("run")
    assert result.returncode == 2
    assert result.stderr == (
        "error: SEGBOT_BOT_TOKEN and SEGBOT_SECRET_KEY must be set to run the bot\n"
    )


def test_run_with_a_nonsense_database_url_says_so_in_one_line() -> None:
    result = segbot("run", SEGBOT_BOT_TOKEN="1:a", SEGBOT_DATABASE_URL="nonsense://")
    assert result.returncode == 2
    assert result.stderr.startswith("error: SEGBOT_DATABASE_URL: unsupported database")
    assert result.stderr.count("\n") == 1


def test_unreachable_database_is_one_line_exit_1(tmp_path: Path) -> None:
    result = segbot(
        "db", "current", SEGBOT_DATABASE_URL="postgresql://nobody:hunter2@127.0.0.1:9/none"
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot use the database")
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr


def test_db_upgrade_then_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    before = segbot("db", "current", SEGBOT_DATABASE_URL=url)
    assert before.returncode == 0
    assert "run `segbot db upgrade`" in before.stdout
    upgraded = segbot("db", "upgrade", SEGBOT_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    after = segbot("db", "current", SEGBOT_DATABASE_URL=url)
    assert after.stdout.strip().endswith("(head)")


def test_version() -> None:
    result = segbot("version")
    assert result.returncode == 0
    assert result.stdout.startswith("segbot ")


@pytest.mark.parametrize(
    "command", [[], ["run"], ["demo"], ["version"], ["db"], ["db", "upgrade"], ["db", "current"]]
)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
