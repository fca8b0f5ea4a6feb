"""Arguments and stored text meant to break the CLI: a revision, id, chat, link value or
file it cannot use is one line on stderr and exit 2, never a traceback; a file it cannot
write is one line and exit 1; a subscriber's name holding terminal control sequences is
printed as visible escapes, never sent to the terminal."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

import migrations
from cli import campaign, crm, database, links, segments, subscribers
from cli.app import app as segbot
from core.ids import MAX_ID
from core.models import Subscriber, SubscriberTag
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke

SEGBOT = str(Path(sys.executable).parent / "segbot")
TOO_LARGE = str(MAX_ID + 1)
# clears the screen, turns text red, sets the window title (ended by BEL), and a C1 CSI
HOSTILE = "Eve\x1b[2J\x1b[31mRED\x1b]0;PWNED\x07\x9b1m"
CONTROLS = ("\x1b", "\x07", "\x9b")


def one_line_error(output: str) -> str:
    """The one line of `output` (stderr), which is an error and no traceback."""
    assert "Traceback" not in output
    line, newline, rest = output.partition("\n")
    assert (newline, rest) == ("\n", ""), output
    assert line.startswith("error: "), output
    return line


@pytest.mark.parametrize("revision", ["bogus", "-1", "+1", "0017:0018", "base"])
async def test_upgrade_to_a_revision_there_is_not_names_the_revisions(
    runner: CliRunner, revision: str
) -> None:
    result = await invoke(runner, database.app, "upgrade", "--", revision)
    assert result.exit_code == 2, result.output
    assert one_line_error(result.stderr) == (
        f"error: no revision {revision!r}: the revisions are 0001 to "
        f"{migrations.head_revision()}, or head"
    )


async def test_upgrade_to_a_revision_the_database_is_past_says_so(runner: CliRunner) -> None:
    result = await invoke(runner, database.app, "upgrade", "0003")
    assert result.exit_code == 2, result.output
    head = migrations.head_revision()
    assert one_line_error(result.stderr) == (
        f"error: the database is at revision {head}, already past 0003: upgrade does not go back"
    )
    again = await invoke(runner, database.app, "upgrade", str(head))
    assert (again.exit_code, again.stdout) == (0, f"database at revision {head}\n")


@pytest.mark.parametrize(
    "args",
    [
        ("crm", "rejected", "--run", TOO_LARGE),
        ("crm", "rejected", "--run", "0"),
        ("campaign", "unknown", TOO_LARGE),
        ("campaign", "unknown", "99999999999999999999"),
        ("campaign", "resend-unknown", TOO_LARGE, "--yes"),
    ],
)
async def test_an_id_out_of_range_is_a_usage_error(
    runner: CliRunner, args: tuple[str, ...]
) -> None:
    group, *rest = args
    result = await invoke(runner, crm.app if group == "crm" else campaign.app, *rest)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Invalid value" in result.output


async def hostile_subscriber(session: AsyncSession) -> int:
    """A subscriber whose name, username and tag hold terminal control sequences."""
    (subscriber_id,) = await add_subscribers(session, 1)
    await session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id)
        .values(first_name=HOSTILE, last_name="\x1b[8m", username="eve")
    )
    session.add(SubscriberTag(subscriber_id=subscriber_id, tag="vip\x1b[5m", added_at=NOW))
    await session.commit()
    return subscriber_id


@pytest.mark.parametrize("command", ["show", "find"])
async def test_control_characters_in_stored_text_are_printed_as_escapes(
    runner: CliRunner, session: AsyncSession, command: str
) -> None:
    subscriber_id = await hostile_subscriber(session)
    who = str(subscriber_id) if command == "show" else "Eve"
    result = await invoke(runner, subscribers.app, command, who)
    assert result.exit_code == 0, result.output
    assert not any(control in result.stdout for control in CONTROLS), repr(result.stdout)
    assert "Eve\\x1b[2J\\x1b[31mRED\\x1b]0;PWNED\\x07\\x9b1m \\x1b[8m" in result.stdout
    if command == "show":
        assert "tags: vip\\x1b[5m" in result.stdout


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("utm", "--source", ""), "error: the UTM source may not be empty"),
        (
            ("utm", "--source", "fb", "--bot", ""),
            "error: '' is not a bot username: 5 to 32 letters, digits and underscores",
        ),
        (
            ("customer", "C1", "--bot", "bad bot/x?y"),
            "error: 'bad bot/x?y' is not a bot username: 5 to 32 letters, digits and underscores",
        ),
        (
            ("customer", "C1", "--bot", "@bot"),
            "error: '@bot' is not a bot username: 5 to 32 letters, digits and underscores",
        ),
        (("customer", ""), "error: the customer id may not be empty"),
        (("customer", "C1|other"), "error: the customer id may not contain '|'"),
    ],
)
def test_a_link_value_telegram_would_not_take_is_refused(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], error: str
) -> None:
    monkeypatch.setenv("SEGBOT_SECRET_KEY", "k")
    result = CliRunner().invoke(links.app, list(args))
    assert result.exit_code == 2, result.output
    assert one_line_error(result.stderr) == error


def test_a_link_for_a_bot_by_its_username() -> None:
    result = CliRunner().invoke(links.app, ["utm", "--source", "fb", "--bot", "@Shop_bot"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://t.me/Shop_bot?start=u-")


async def test_control_characters_in_a_previewed_message_are_printed_as_escapes(
    runner: CliRunner, session: AsyncSession
) -> None:
    subscriber_id = await hostile_subscriber(session)
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi {{ first_name }}'}\n")
    result = await invoke(
        runner, campaign.app, "preview", "hello", "--subscriber", str(subscriber_id)
    )
    assert result.exit_code == 0, result.output
    assert not any(control in result.stdout for control in CONTROLS), repr(result.stdout)
    assert "Hi Eve\\x1b[2J\\x1b[31mRED" in result.stdout


async def test_rfm_as_of_the_last_day_there_is_is_refused(runner: CliRunner) -> None:
    result = await invoke(runner, segments.rfm_app, "--as-of", "9999-12-31")
    assert result.exit_code == 2
    assert result.stderr == "error: --as-of: give a day before 9999-12-31\n"


async def test_a_campaign_file_that_is_a_folder_or_not_utf8_is_one_line(
    runner: CliRunner, tmp_path: Path
) -> None:
    folder = await invoke(runner, campaign.app, "create", str(tmp_path))
    assert folder.exit_code == 2, folder.output
    assert "Traceback" not in folder.output
    assert "is a directory" in folder.stderr
    latin = tmp_path / "sale.yaml"
    latin.write_bytes("name: café\n".encode("latin-1"))
    undecodable = await invoke(runner, campaign.app, "create", str(latin))
    assert undecodable.exit_code == 2, undecodable.output
    assert one_line_error(undecodable.stderr).startswith(
        f"error: {latin}: cannot be read as UTF-8 text ("
    )


@pytest.mark.parametrize("chat", ["0", TOO_LARGE, f"-{TOO_LARGE}"])
async def test_a_test_send_to_a_chat_there_cannot_be_is_a_usage_error(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, session: AsyncSession, chat: str
) -> None:
    monkeypatch.setenv("SEGBOT_BOT_TOKEN", "123:abc")
    monkeypatch.setenv("SEGBOT_TELEGRAM_API_BASE", "http://127.0.0.1:9")  # never reached
    await campaign_from(session, "name: hello\ndefault: {text: 'Hi'}\n")
    result = await invoke(runner, campaign.app, "test-send", "hello", "--to", chat)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Invalid value for '--to'" in result.output


@pytest.mark.parametrize("out", ["", ".", "/"])
async def test_an_export_to_a_folder_is_one_line(runner: CliRunner, out: str) -> None:
    result = await invoke(runner, segbot, "export", "anyone", "--out", out)
    assert result.exit_code == 1, result.output
    assert one_line_error(result.stderr) == f"error: cannot use {out or '.'}: Is a directory"


async def test_an_export_through_a_link_or_into_a_pipe_writes_where_they_lead(
    runner: CliRunner, session: AsyncSession, tmp_path: Path
) -> None:
    await add_subscribers(session, 2)
    saved = await invoke(runner, segments.app, "save", "anyone", "lang = en")
    assert saved.exit_code == 0, saved.output
    real = tmp_path / "real.csv"
    real.write_text("old contents\n", encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(real.name)
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    read: list[str] = []
    reader = threading.Thread(
        target=lambda: read.append(pipe.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    for out in (tmp_path / "link.csv", pipe):
        result = await invoke(
            runner, segbot, "export", "anyone", "--format", "ids", "--out", str(out)
        )
        assert result.exit_code == 0, result.output
    reader.join(timeout=10)
    assert (tmp_path / "link.csv").is_symlink()
    assert pipe.is_fifo()
    assert real.read_text(encoding="utf-8").splitlines()[0] == "telegram_id"
    assert read[0].splitlines()[0] == "telegram_id"


async def test_a_mapping_that_is_a_folder_is_a_usage_error_not_segbot_config(
    runner: CliRunner, tmp_path: Path
) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text("customer_id\nC1\n", encoding="utf-8")
    result = await invoke(
        runner, crm.app, "import", "--customers", str(customers), "--mapping", str(tmp_path)
    )
    assert result.exit_code == 2, result.output
    assert "SEGBOT_CONFIG" not in result.output
    assert "is a directory" in result.output


@pytest.mark.parametrize("owner", ["o" * 65, "eve\x1b[2J"])
async def test_a_segment_owner_the_column_cannot_hold_is_a_usage_error(
    runner: CliRunner, owner: str
) -> None:
    result = await invoke(runner, segments.app, "save", "spanish", "lang = es", "--owner", owner)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--owner': an owner is 1-64 printable characters" in result.output
    listed = await invoke(runner, segments.app, "list")
    assert "spanish" not in listed.stdout


@pytest.mark.parametrize("command", [("db", "current"), ("segments", "list")])
def test_a_sqlite_file_that_cannot_be_opened_is_named_in_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """Also no traceback of the driver's thread, which outlived the event loop."""
    missing = tmp_path / "missing"
    for url, error in (
        (f"sqlite:///{missing / 'segbot.db'}", f"cannot use {missing}: No such file or directory"),
        (f"sqlite:///{tmp_path}", f"cannot use {tmp_path}: Is a directory"),
    ):
        result = subprocess.run(  # noqa: S603  (our own console script)
            [SEGBOT, *command], capture_output=True, text=True, timeout=60,
            env={"PATH": "", "SEGBOT_DATABASE_URL": url},
        )  # fmt: skip
        assert (result.returncode, result.stderr) == (1, f"error: {error}\n")


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("", "error: --source '': String should have at least 1 character"),
        ("a b", "error: --source 'a b': String should match pattern '^[A-Za-z0-9_.-]+$'"),
        ("shop\n", "error: --source 'shop\\n': String should match pattern '^[A-Za-z0-9_.-]+$'"),
    ],
)
def test_a_customer_link_for_a_source_no_import_could_have_is_refused(
    monkeypatch: pytest.MonkeyPatch, source: str, error: str
) -> None:
    """A CRM source is named by the rule of `crm import --source`: a link naming another
    would tie its opener to nobody (and an empty one was read as no source at all)."""
    monkeypatch.setenv("SEGBOT_SECRET_KEY", "k")
    result = CliRunner().invoke(links.app, ["customer", "C1", "--source", source])
    assert result.exit_code == 2, result.output
    assert one_line_error(result.stderr) == error
    named = CliRunner().invoke(links.app, ["customer", "C1", "--source", "shop.eu-1"])
    assert named.exit_code == 0, named.output


async def test_text_that_looks_like_markup_is_printed_as_written(runner: CliRunner) -> None:
    """Rich markup once read stored text: `tag:"[/]"` failed `segments list` with a
    traceback, and a persona named `[bold]vip[/bold]` was printed as `vip`, after saving."""
    from cli.personas import app as personas

    saved = await invoke(runner, segments.app, "save", "brackets", 'tag:"[/]"')
    assert saved.exit_code == 0, saved.output
    listed = await invoke(runner, segments.app, "list")
    assert listed.exit_code == 0, listed.output
    assert 'tag:"[/]"' in listed.stdout
    made = await invoke(
        runner, personas, "create", "[bold]vip[/bold]", "--rule", "lang = es",
        "--problem", "[/]", "--offer", "o", "--example", "e",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert made.stdout == "saved persona [bold]vip[/bold]\n"
    shown = await invoke(runner, personas, "list")
    assert shown.exit_code == 0, shown.output
    assert "[bold]vip[/bold]" in shown.stdout
