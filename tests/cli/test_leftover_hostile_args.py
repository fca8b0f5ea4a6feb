"""A file the user names that segbot cannot use is told about in the user's own terms: a
`crm import --mapping FILE` it cannot read names --mapping and that file (not
SEGBOT_CONFIG, which segbot.yaml comes from), and `segbot run` on a SQLite file in a
folder that does not exist names the folder in one line, as every other command does."""

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli import crm

SEGBOT = str(Path(sys.executable).parent / "segbot")
NOT_A_FILE = "not a regular file (a folder, a pipe, a socket or a device)"


def refused(result: Result, message: str) -> None:
    """Exit 2 with `message` as the one line on stderr, nothing on stdout."""
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr == f"error: {message}\n"


@pytest.fixture
def customers(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text("customer_id\nC1\n", encoding="utf-8")
    return path


@pytest.fixture
def unreadable(tmp_path: Path) -> Iterator[Path]:
    """A path that exists and is no folder, yet cannot be read even by root: a socket."""
    path = tmp_path / "sock.yaml"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        yield path


def test_a_mapping_that_cannot_be_read_names_the_option_not_segbot_config(
    runner: CliRunner, customers: Path, unreadable: Path
) -> None:
    given = ["import", "--customers", str(customers), "--mapping", str(unreadable)]
    refused(
        runner.invoke(crm.app, given),
        f"--mapping: cannot read {unreadable}: {NOT_A_FILE}",
    )
    as_config = runner.invoke(
        crm.app, ["import", "--customers", str(customers)], env={"SEGBOT_CONFIG": str(unreadable)}
    )
    refused(as_config, f"SEGBOT_CONFIG: cannot read {unreadable}: {NOT_A_FILE}")


@pytest.mark.parametrize(
    ("database", "named", "reason"),
    [("missing/segbot.db", "missing", "No such file or directory"), (".", ".", "Is a directory")],
    ids=["no-folder", "a-folder"],
)
def test_run_on_a_sqlite_file_it_cannot_open_names_it_in_one_line(
    tmp_path: Path, database: str, named: str, reason: str
) -> None:
    """No log lines of a start, no traceback of the driver's thread, no "unable to open
    database file": the line `segbot db current` says for the same URL."""
    result = subprocess.run(  # noqa: S603  (our own console script)
        [SEGBOT, "run"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={
            "PATH": "", "SEGBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / database}",
            "SEGBOT_BOT_TOKEN": "123456:TEST", "SEGBOT_SECRET_KEY": "k",
        },
    )  # fmt: skip
    told = f"error: cannot use {tmp_path / named}: {reason}\n"
    assert (result.returncode, result.stdout, result.stderr) == (1, "", told)


@pytest.mark.parametrize(
    ("where", "says"), [("", "it is a folder"), ("no/such/x.csv", "its folder does not exist")]
)
def test_rfm_checks_where_its_csv_goes_before_storing_scores(
    runner: CliRunner, tmp_path: Path, where: str, says: str
) -> None:
    from cli.app import app

    target = tmp_path / where if where else tmp_path
    result = runner.invoke(app, ["rfm", "--csv", str(target)])
    assert (result.exit_code, result.stdout) == (1, ""), result.output
    assert result.stderr == f"error: cannot write {target}: {says}; nothing was scored\n"
