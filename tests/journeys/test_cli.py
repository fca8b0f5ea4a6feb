"""`segbot journey ...` as a person runs it: saving (and saving again: a new version),
listing, showing, pausing, enrolling a segment, simulating one subscriber on a scratch
database; mistakes are one line and an exit code."""

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

import migrations
from cli.app import app
from core.db import create_engine, create_sessionmaker
from core.subscribers import Profile, subscribe
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, save_journey
from tests.broadcasts.audience import NOW, add_subscribers
from tests.cli.conftest import invoke

SERIES = """
name: series
trigger: manual
steps:
  - id: hello
    send: {text: "Hello {{ first_name }}"}
  - id: looked
    wait_for: {clicked: {step: hello}}
    within: 1d
    then: end
  - id: nudge
    send: {text: "Still there?"}
"""


def written(tmp_path: Path, text: str) -> str:
    path = tmp_path / "journey.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


async def test_create_list_show_pause_resume_and_enroll(
    runner: CliRunner, tmp_path: Path, session: AsyncSession
) -> None:
    await add_subscribers(session, 3)
    created = await invoke(runner, app, "journey", "create", written(tmp_path, SERIES))
    assert created.exit_code == 0, created.output
    assert "saved journey series version 1: live" in created.stdout
    again = await invoke(runner, app, "journey", "create", written(tmp_path, SERIES), "--move")
    assert "saved journey series version 2: live" in again.stdout
    assert "moved 0 people inside to version 2" in again.stdout

    saved = await invoke(runner, app, "segments", "save", "everyone", "status = active")
    assert saved.exit_code == 0, saved.output
    enrolled = await invoke(runner, app, "journey", "enroll", "series", "everyone")
    assert "3 entered journey series, 0 as the holdout" in enrolled.stdout

    listed = await invoke(runner, app, "journey", "list")
    assert "series" in listed.stdout
    assert "manual enrolment" in listed.stdout
    shown = await invoke(runner, app, "journey", "show", "series")
    assert "wait for clicked (step hello), up to 1d" in shown.stdout
    assert "yes: end, no: nudge" in shown.stdout
    assert "people: active 3, holdout 0, ended 0" in shown.stdout

    paused = await invoke(runner, app, "journey", "pause", "series")
    assert paused.stdout.strip() == "journey series paused"
    refused = await invoke(runner, app, "journey", "enroll", "series", "everyone")
    assert refused.exit_code == 1
    assert "journey 'series' is paused: nobody enters it" in refused.stderr
    resumed = await invoke(runner, app, "journey", "resume", "series")
    assert resumed.exit_code == 0
    archived = await invoke(runner, app, "journey", "archive", "series")
    assert "3 people inside left it" in archived.stdout


async def test_mistakes_are_one_line_with_an_exit_code(runner: CliRunner, tmp_path: Path) -> None:
    bad = await invoke(runner, app, "journey", "create", written(tmp_path, "name: x\nsteps: []\n"))
    assert bad.exit_code == 2
    assert bad.stderr.count("\n") == 1
    assert "trigger: Field required" in bad.stderr
    await invoke(runner, app, "journey", "create", written(tmp_path, SERIES))
    unknown = await invoke(runner, app, "journey", "show", "nope")
    assert unknown.exit_code == 1
    assert "no journey named 'nope'; the journeys are: series" in unknown.stderr


async def test_simulate_walks_one_subscriber_through_on_a_scratch_database(
    runner: CliRunner, fresh_database_url: str
) -> None:
    engine = create_engine(fresh_database_url)
    try:
        await migrations.upgrade(engine)
        async with create_sessionmaker(engine)() as scratch:
            await subscribe(
                scratch, profile=Profile(77, 77, first_name="Ana", username="ana"), source=None,
                now=NOW,
            )  # fmt: skip
            await save_journey(
                scratch, spec=parse_journey(SERIES), source=SERIES, now=NOW, actor=CLI_ACTOR
            )
    finally:
        await engine.dispose()

    simulated = await invoke(
        runner, app, "journey", "simulate", "series", "@ana",
        "--scratch-database", fresh_database_url,
    )  # fmt: skip

    assert simulated.exit_code == 0, simulated.output
    lines = simulated.stdout.splitlines()
    assert lines[0].startswith("journey series for Ana @ana (id 1, Telegram 77) (simulated")
    assert [line.split("  ", 1)[1] for line in lines[1:] if " UTC  " in line] == [
        "hello  send: sent",
        "looked  wait_for: no",
        "nudge  send: sent",
    ]
    assert "    Hello Ana" in lines
    assert "    Still there?" in lines
    assert lines[-1] == "ends: completed"
