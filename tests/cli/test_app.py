"""`segbot` as a user runs it: in a subprocess, judged by its output and exit code (a UTM
link and every --help through the CLI tests' CliRunner); and what it imports to answer."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import COMMANDS, app
from core.sources import CustomerRef, StartSource, parse_start_payload

SEGBOT = str(Path(sys.executable).parent / "segbot")
# What takes seconds to import: `--help` and `version` need none of it.
HEAVY = frozenset({"pandas", "sqlalchemy", "aiogram", "alembic", "openpyxl", "matplotlib"})


def segbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own console script)
        [SEGBOT, *args], capture_output=True, text=True, timeout=60, env={"PATH": "", **env}
    )


def imported(code: str) -> tuple[frozenset[str], subprocess.CompletedProcess[str]]:
    """The top-level packages `python -X importtime -c code` imports, and how it went."""
    result = subprocess.run(  # noqa: S603  (this interpreter)
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "", "COLUMNS": "100"},
    )
    names = re.findall(r"^import time:\s*\d+ \|\s*\d+ \|\s*([\w.]+)", result.stderr, re.M)
    return frozenset(name.split(".")[0] for name in names), result


def running(*args: str) -> str:
    """Python that runs `segbot ARGS` as the console script does."""
    return f"import sys; sys.argv = {['segbot', *args]!r}; from cli.app import main; main()"


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("import cli.app", ""),
        (running("--help"), "Usage: segbot"),
        (running("version"), "segbot "),
    ],
)
def test_help_and_version_import_nothing_heavy(code: str, says: str) -> None:
    packages, result = imported(code)
    assert result.returncode == 0, result.stderr[-2000:]
    assert says in result.stdout
    assert "cli" in packages  # the import log is read right
    assert not packages & HEAVY


def test_a_command_imports_only_what_it_uses() -> None:
    packages, result = imported(running("links", "utm", "--source", "insta"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()
    assert not packages & (HEAVY - {"sqlalchemy"})  # settings parse database URLs with it


def test_the_root_help_lists_every_command_with_its_own_summary() -> None:
    """`segbot --help` shows each command's summary without importing it: the summary
    must be how the command's own help starts."""
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for command in COMMANDS:
        own_help = " ".join((command.load().help or "").split())
        assert own_help.startswith(command.summary), command.name
        assert re.search(rf"^\W*{command.name}\s+{re.escape(command.summary)}", result.stdout, re.M)


def test_a_misspelt_command_gets_a_suggestion() -> None:
    result = segbot("campain")
    assert result.returncode == 2
    assert "No such command 'campain'. Did you mean 'campaign'?" in result.stderr


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
    file = tmp_path / "cli.db"
    url = f"sqlite:///{file}"
    before = segbot("db", "current", SEGBOT_DATABASE_URL=url)
    assert before.returncode == 0
    assert before.stdout.startswith(f"no database at {file} (latest is ")
    assert not file.exists()  # looking made no file
    upgraded = segbot("db", "upgrade", SEGBOT_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    after = segbot("db", "current", SEGBOT_DATABASE_URL=url)
    assert after.stdout.strip().endswith("(head)")


def test_version() -> None:
    result = segbot("version")
    assert result.returncode == 0
    assert result.stdout.startswith("segbot ")


def test_a_customer_link_opens_the_bot_as_that_customer() -> None:
    result = segbot("links", "customer", "C-1001", "--bot", "@shopbot", SEGBOT_SECRET_KEY="k")
    assert result.returncode == 0, result.stderr
    link = result.stdout.strip()
    assert link.startswith("https://t.me/shopbot?start=c-")
    source = parse_start_payload(link.partition("start=")[2], secret="k")
    assert source is not None
    assert source.customer == CustomerRef(external_id="C-1001", source=None)


def test_a_customer_link_needs_the_secret_key() -> None:
    result = segbot("links", "customer", "C-1001")
    assert result.returncode == 2
    assert result.stderr == "error: SEGBOT_SECRET_KEY must be set to sign customer links\n"


def test_a_utm_link_carries_its_fields(runner: CliRunner) -> None:
    result = runner.invoke(app, ["links", "utm", "--source", "insta", "--campaign", "spring"])
    assert result.exit_code == 0, result.output
    source = parse_start_payload(result.stdout.strip(), secret="unused")
    assert isinstance(source, StartSource)
    assert (source.utm_source, source.utm_campaign) == ("insta", "spring")


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["run"],
        ["demo"],
        ["version"],
        ["db"],
        ["db", "upgrade"],
        ["db", "current"],
        ["links", "customer"],
        ["links", "utm"],
        ["crm"],
        ["segments"],
        ["rfm"],
        ["ladder"],
        ["campaign"],
        ["personas"],
        ["report"],
        ["export"],
        ["emulator"],
        ["rehearse"],
    ],
)
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_a_commands_help_flows_in_the_terminals_width_not_the_sources() -> None:
    """Typer kept the line breaks of a docstring's later paragraphs: "...(orders," then
    "spent, ..." on the next line, wherever the terminal's edge was."""
    result = segbot("crm", "import", "--help", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    assert "never counted as a purchase (orders, spent, RFM monetary)" in result.stdout
