"""Arguments and stored text meant to break the CLI: a revision, id or link value it cannot
use is one line on stderr and exit 2, never a traceback; a subscriber's name holding
terminal control sequences is printed as visible escapes, never sent to the terminal."""

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

import migrations
from cli import campaign, crm, database, links, segments, subscribers
from core.ids import MAX_ID
from core.models import Subscriber, SubscriberTag
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke

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
