"""`segbot rehearse CAMPAIGN --subscribers FILE.csv` through the CLI: each person's message
as the emulator received it, or why nothing; the real database never written.

On SQLite the rehearsal copies the test database; on PostgreSQL it runs on a scratch
database (--scratch-database), where the tests put the campaign instead.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, make_url, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner, Result

import migrations
from broadcasts.models import Delivery, DeliveryStatus
from broadcasts.planner import plan_run
from core.clock import utcnow
from core.db import create_engine, create_sessionmaker
from migrations.metadata import metadata
from segments.saved import save_segment
from telegram_emulator import Emulator
from tests.broadcasts.audience import NOW, add_subscribers, campaign_from
from tests.cli.conftest import invoke

CAMPAIGN = """
name: spring
audience:
  - segment: spanish
    text: "¡Hola, <b>{{ first_name }}</b>!"
    buttons: [{text: Ver, url: "https://shop.example/es"}]
  - query: "tag:vip"
    label: vips
    text: "For our best customers, {{ first_name }}"
  - query: "age > 50"
    label: seniors
    text: "{{ first_name }}, a quiet spring"
"""
PEOPLE = """telegram_id,first_name,last_name,username,language_code,phone,email,city,age,tags
1001,Ana,López,@ana,es,+34600111222,ANA@example.com,Madrid,34,vip
1002,Boris,,,ru,,,,51,
1004,Dev,,,en,,,,20,
1005,Emma,,,en,,,,,vip;interest:deals
2001,Carla,,,en,,,,60,
"""


@dataclass(frozen=True)
class Stage:
    """Where the rehearsal reads the campaign: the database to prepare, the options."""

    sessionmaker: async_sessionmaker[AsyncSession]
    options: tuple[str, ...]


@pytest.fixture
async def stage(
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    fresh_database_url: str,
) -> AsyncIterator[Stage]:
    if make_url(database_url).get_backend_name() == "sqlite":
        yield Stage(sessionmaker, ())
        return
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        yield Stage(create_sessionmaker(engine), ("--scratch-database", fresh_database_url))
    finally:
        await engine.dispose()


async def rows_per_table(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessionmaker() as session:
        return {
            table.name: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in metadata.sorted_tables
        }


def people_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "people.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


async def rehearse(runner: CliRunner, stage: Stage, campaign: str, people: str) -> Result:
    from cli.app import app

    return await invoke(runner, app, "rehearse", campaign, "--subscribers", people, *stage.options)


async def test_each_person_gets_their_message_or_the_reason(
    runner: CliRunner,
    stage: Stage,
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SEGBOT_TELEGRAM_API_BASE", "http://127.0.0.1:9")  # never reached
    async with stage.sessionmaker() as session:
        await save_segment(session, name="spanish", rule_text="lang = es", now=NOW)
        [carla] = await add_subscribers(session, 1, first_id=2001)  # had a message today
        earlier = await campaign_from(session, "name: earlier\ndefault: {text: Hi}\n")
        plan = await plan_run(session, campaign=earlier, now=utcnow())
        await session.execute(
            update(Delivery)
            .where(Delivery.run_id == plan.run.id, Delivery.subscriber_id == carla)
            .values(status=DeliveryStatus.SENT, claimed_at=utcnow(), sent_at=utcnow())
        )
        await session.commit()
        await campaign_from(session, CAMPAIGN)
    before = await rows_per_table(sessionmaker)

    result = await rehearse(runner, stage, "spring", people_file(tmp_path, PEOPLE))

    assert result.exit_code == 0, result.output
    output = result.stdout
    assert "Ana López (1001, @ana) gets spanish / a:" in output  # the first target that fits
    assert "¡Hola, Ana!" in output
    assert "Ver" in output
    assert "Unsubscribe" in output
    assert "Boris (1002) gets seniors / a:" in output  # age read as a number
    assert "Boris, a quiet spring" in output
    assert "Emma (1005) gets vips / a:" in output  # tags from the file
    assert "Dev (1004): no audience: in none of the campaign's audiences" in output
    assert "Carla (2001): frequency cap: they already had 1 message(s) in 24 h" in output
    assert "5 people, 3 got a message; nothing for 2 (no audience 1, frequency cap 1)" in (
        " ".join(output.split())
    )
    assert await rows_per_table(sessionmaker) == before  # the real database: not written


async def test_the_holdout_gets_nothing(runner: CliRunner, stage: Stage, tmp_path: Path) -> None:
    async with stage.sessionmaker() as session:
        await campaign_from(session, "name: half\nholdout: 50\ndefault: {text: Hi}\n")
    rows = "".join(f"{5000 + n},P{n}\n" for n in range(1, 21))
    result = await rehearse(
        runner, stage, "half", people_file(tmp_path, f"telegram_id,first_name\n{rows}")
    )
    assert result.exit_code == 0, result.output
    held = result.stdout.count(": holdout: in the control group of default")
    sent = result.stdout.count(" gets default / a:")
    assert held + sent == 20
    assert held  # 20 people split 50/50: both sides have someone
    assert sent


async def test_a_tag_given_twice_is_one_tag(
    runner: CliRunner, stage: Stage, tmp_path: Path
) -> None:
    async with stage.sessionmaker() as session:
        await campaign_from(
            session, "name: tagged\naudience:\n  - {query: tag:vip, label: vips, text: Hi}\n"
        )
    people = people_file(tmp_path, "telegram_id,first_name,tags\n1001,Ana,vip;vip\n")
    result = await rehearse(runner, stage, "tagged", people)
    assert result.exit_code == 0, result.output
    assert "Ana (1001) gets vips / a:" in result.stdout


class RefusingEmulator(Emulator):
    """Telegram refuses every message."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_next(1000, 400, "sendMessage")


async def test_a_failed_message_is_said_and_exits_1(
    runner: CliRunner, stage: Stage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cli.rehearse.Emulator", RefusingEmulator)
    async with stage.sessionmaker() as session:
        await campaign_from(session, "name: hello\ndefault: {text: Hi}\n")
    people = people_file(tmp_path, "telegram_id,first_name\n7001,Ana\n")
    result = await rehearse(runner, stage, "hello", people)
    assert result.exit_code == 1
    assert "Ana (7001): failed: refused by Telegram" in result.stdout
    assert result.stderr == "error: 1 of the messages failed (why: above)\n"


@pytest.mark.parametrize(
    ("people", "error"),
    [
        ("telegram_id,first_name\nabc,Ana\n", "line 2: telegram_id 'abc' is not a Telegram user"),
        ("telegram_id,first_name\n²,Ana\n", "line 2: telegram_id '²' is not a Telegram user"),
        ("telegram_id,name\n1,Ana\n", "no column first_name in the header (telegram_id, name)"),
        ("telegram_id,first_name\n1,\n", "line 2: first_name is empty"),
        ("telegram_id,first_name,phone\n1,Ana,12\n", "line 2: phone '12' is not a phone number"),
        ("telegram_id,first_name,email\n1,Ana,ana@\n", "email 'ana@' is not an e-mail address"),
        ("telegram_id,first_name\n1,Ana\n1,Bo\n", "line 3: telegram_id 1 is on line 2 too"),
        ("telegram_id,first_name,fav color\n1,Ana,red\n", "column 'fav color': an attribute's"),
        ("telegram_id,first_name,tags\n1,Ana,a b\n", "line 2: tag 'a b'"),
        ("telegram_id,first_name,timezone\n1,Ana,Mars/Base\n", "'Mars/Base' is not an IANA"),
        ("telegram_id,first_name,timezone\n1,Ana,localtime\n", "'localtime' is not an IANA"),
        ("telegram_id,first_name\n1,Ana,extra\n", "line 2: more values than the header has"),
        ("telegram_id,first_name\n", "no people in it"),
    ],
)
def test_a_bad_people_file_is_one_line(
    runner: CliRunner, tmp_path: Path, people: str, error: str
) -> None:
    from cli.app import app

    result = runner.invoke(app, ["rehearse", "x", "--subscribers", people_file(tmp_path, people)])
    assert result.exit_code == 2
    assert error in result.stderr
    assert result.stderr.count("\n") == 1


def test_postgresql_needs_a_scratch_database(runner: CliRunner, tmp_path: Path) -> None:
    from cli.app import app

    people = people_file(tmp_path, "telegram_id,first_name\n1,Ana\n")
    real = "postgresql://segbot:pw@db.example/segbot"
    args = ["rehearse", "spring", "--subscribers", people]
    result = runner.invoke(app, args, env={"SEGBOT_DATABASE_URL": real})
    assert result.exit_code == 2
    assert "copies only SQLite" in result.stderr
    assert "--scratch-database URL" in result.stderr
    same = runner.invoke(
        app,
        [*args, "--scratch-database", "postgresql+asyncpg://segbot:pw@db.example:5432/segbot"],
        env={"SEGBOT_DATABASE_URL": real},
    )
    assert same.exit_code == 2
    assert "--scratch-database names SEGBOT_DATABASE_URL itself" in same.stderr


async def test_an_unknown_campaign_names_those_there_are(
    runner: CliRunner, stage: Stage, tmp_path: Path
) -> None:
    async with stage.sessionmaker() as session:
        await campaign_from(session, "name: hello\ndefault: {text: Hi}\n")
    people = people_file(tmp_path, "telegram_id,first_name\n7001,Ana\n")
    result = await rehearse(runner, stage, "helo", people)
    assert result.exit_code == 1
    assert "no campaign 'helo'" in result.stderr
    assert "hello" in result.stderr
