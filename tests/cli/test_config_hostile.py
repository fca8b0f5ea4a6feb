"""Settings and segbot.yaml no value can crash: each mistake stops the command with one
line naming the variable or key (exit 2), never a traceback; and a web server that cannot
listen says where. (That `segbot demo` uses none of the operator's settings is checked by
the demo's own test, tests/demo/test_rehearsal.py.)"""

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

from bot.config import load_app_config
from cli.app import app
from core.errors import ConfigError

SEGBOT = str(Path(sys.executable).parent / "segbot")
PASSWORD = "Db-Pa55word-x9"


def refused(result: Result, message: str) -> None:
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr == f"error: {message}\n"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"postgresql://u:{PASSWORD}@127.0.0.1:99999/x",
            "the port must be a number from 1 to 65535",
        ),
        (
            f"postgresql://u:{PASSWORD}@127.0.0.1:5432/x?foo=bar",
            "asyncpg takes no option 'foo': check what follows the ?",
        ),
    ],
    ids=["port-out-of-range", "option-the-driver-does-not-take"],
)
def test_a_database_url_it_cannot_use_is_one_line_without_the_password(
    runner: CliRunner, url: str, message: str
) -> None:
    result = runner.invoke(app, ["db", "current"], env={"SEGBOT_DATABASE_URL": url})
    refused(result, f"SEGBOT_DATABASE_URL: {message}")


@pytest.mark.parametrize("name", ["SEGBOT_RATE_LIMIT", "SEGBOT_SEND_TIMEOUT"])
def test_an_infinite_rate_or_timeout_is_refused(runner: CliRunner, name: str) -> None:
    result = runner.invoke(app, ["db", "current"], env={name: "inf"})
    refused(result, f"{name}: Input should be a finite number")


def test_an_empty_config_variable_is_unset(runner: CliRunner, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("id,phone\n1,600111222\n", encoding="utf-8")
    result = runner.invoke(
        app, ["crm", "import", "--customers", str(customers)], env={"SEGBOT_CONFIG": ""}
    )
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "content",
    [b"\xff\xfeSEGBOT_X=1\n", "SEGBOT_SECRET_KEY=x\n".encode("utf-16")],
    ids=["not-utf8", "utf16-as-powershell-writes"],
)
def test_a_dot_env_that_is_not_utf8_is_one_line(
    runner: CliRunner, tmp_path: Path, content: bytes
) -> None:
    (tmp_path / ".env").write_bytes(content)
    result = runner.invoke(app, ["db", "current"])
    refused(result, ".env: not UTF-8 text (byte 0); save it as UTF-8")


@pytest.mark.parametrize(
    ("crm", "message"),
    [
        ("default_region: ZZ", "crm.default_region: unknown region 'ZZ'; use a two-letter"),
        ("timezone: Mars/Olympus", "crm.timezone: unknown time zone 'Mars/Olympus'"),
        ("default_currency: EURO", "crm.default_currency: unknown currency code 'EURO'"),
    ],
)
def test_a_crm_region_or_time_zone_nothing_has_stops_the_file_loading(
    runner: CliRunner, tmp_path: Path, crm: str, message: str
) -> None:
    config = tmp_path / "segbot.yaml"
    config.write_text(f"crm:\n  {crm}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{message}"):
        load_app_config(config)
    customers = tmp_path / "customers.csv"
    customers.write_text("id,phone\n1,600111222\n", encoding="utf-8")
    result = runner.invoke(app, ["crm", "import", "--customers", str(customers)])
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr.startswith(f"error: {message}")
    assert len(result.stderr.splitlines()) == 1


def test_a_crm_region_or_currency_in_lower_case_is_read() -> None:
    config = Path("segbot.yaml")
    config.write_text(
        "crm:\n  default_region: es\n  timezone: Europe/Madrid\n  default_currency: eur\n"
    )
    crm = load_app_config(config).crm
    assert (crm.default_region, crm.timezone, crm.default_currency) == (
        "ES",
        "Europe/Madrid",
        "EUR",
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["campaign", "create", "/dev/zero"], "error: /dev/zero: cannot be read as UTF-8 text"),
        (["crm", "import", "--customers", "/dev/zero"], "cannot read /dev/zero: not a regular"),
        (["segments", "list"], "error: SEGBOT_CONFIG: cannot read /dev/zero: not a regular file"),
    ],
)
def test_a_device_given_for_a_file_is_refused_not_read_for_ever(
    runner: CliRunner, args: list[str], says: str
) -> None:
    """/dev/zero never ends: read whole, it filled the memory until the process was
    killed (a pipe waited for a writer for ever)."""
    env = {"SEGBOT_CONFIG": "/dev/zero"} if args == ["segments", "list"] else {}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code != 0, result.output
    assert says in result.stderr, result.output
    assert "Traceback" not in result.output


def test_output_that_cannot_be_written_is_not_blamed_on_the_database(tmp_path: Path) -> None:
    with Path("/dev/full").open("w") as full:
        result = subprocess.run(  # noqa: S603  (our own console script)
            [SEGBOT, "segments", "list"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            env={"PATH": "", "SEGBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.db"},
        )
    assert result.returncode == 1
    assert result.stderr == "error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize("key", ["1", "null", "true"])
def test_a_top_level_key_that_is_no_string_is_an_unknown_section_of_that_file(
    runner: CliRunner, tmp_path: Path, key: str
) -> None:
    config = tmp_path / "behaviour.yaml"
    config.write_text(f"{key}: 2\nreports: {{}}\n", encoding="utf-8")
    customers = tmp_path / "customers.csv"
    customers.write_text("id,phone\n1,600111222\n", encoding="utf-8")
    result = runner.invoke(
        app, ["crm", "import", "--customers", str(customers)], env={"SEGBOT_CONFIG": str(config)}
    )
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr.startswith(f"error: {config}: unknown section ")
    assert "Traceback" not in result.output


def run_the_bot(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  (our own console script)
        [SEGBOT, "run"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "",
            "SEGBOT_DATABASE_URL": database_url,
            "SEGBOT_BOT_TOKEN": "123:abc",
            "SEGBOT_SECRET_KEY": "secret",
            "SEGBOT_TELEGRAM_API_BASE": "http://127.0.0.1:9",  # never reached
            "SEGBOT_LOG_LEVEL": "WARNING",
            **env,
        },
    )


async def test_a_web_server_that_cannot_listen_says_where_not_the_database(
    database_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        in_use = await asyncio.to_thread(run_the_bot, database_url, SEGBOT_WEB_PORT=port)
        no_host = await asyncio.to_thread(
            run_the_bot, database_url, SEGBOT_WEB_HOST="999.1.1.1", SEGBOT_WEB_PORT=port
        )
    assert (in_use.returncode, in_use.stderr) == (
        1,
        f"error: cannot listen on 127.0.0.1:{port} (SEGBOT_WEB_HOST, SEGBOT_WEB_PORT): "
        "Address already in use\n",
    )
    assert no_host.returncode == 1
    assert no_host.stderr.startswith(
        f"error: cannot listen on 999.1.1.1:{port} (SEGBOT_WEB_HOST, SEGBOT_WEB_PORT): "
    )
    assert len(no_host.stderr.splitlines()) == 1
