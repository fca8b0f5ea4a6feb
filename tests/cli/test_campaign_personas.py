"""A campaign file's `persona:` targets, through `segbot campaign create` and `show`: each
reaches the persona's segment or rule, labelled after it, and a persona that is not there
is refused naming it."""

from pathlib import Path

from typer.testing import CliRunner

from cli.campaign import app
from cli.personas import app as personas_app
from cli.segments import app as segments_app
from tests.cli.conftest import invoke
from tests.cli.test_campaign import campaign_file


async def persona(runner: CliRunner, name: str, *audience: str) -> None:
    made = await invoke(
        runner, personas_app, "create", name, *audience,
        "--problem", "no time", "--offer", "free delivery", "--example", "Ana, 30",
    )  # fmt: skip
    assert made.exit_code == 0, made.output


async def test_persona_targets_reach_their_segment_or_rule(
    runner: CliRunner, tmp_path: Path
) -> None:
    saved = await invoke(runner, segments_app, "save", "readers", "lang = en")
    assert saved.exit_code == 0, saved.output
    await persona(runner, "Deal hunters", "--rule", "lang = es")
    await persona(runner, "Readers", "--segment", "readers")
    text = (
        "name: by_persona\n"
        "audience:\n"
        "  - {persona: Deal hunters, text: Hola}\n"
        "  - {persona: Readers, label: en_readers, text: Hi reader}\n"
        "default: {text: Hi}\n"
    )
    created = await invoke(runner, app, "create", campaign_file(tmp_path, text))
    assert created.exit_code == 0, created.output
    shown = await invoke(runner, app, "show", "by_persona")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    deals = next(line for line in lines if "Deal_hunters" in line)
    assert "lang = es" in deals, shown.output
    readers = next(line for line in lines if "en_readers" in line)
    assert "readers" in readers.replace("en_readers", ""), shown.output


async def test_a_persona_nothing_has_is_refused_naming_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    text = "name: lost\naudience:\n  - {persona: Nobody, text: Hi}\n"
    created = await invoke(runner, app, "create", campaign_file(tmp_path, text))
    assert created.exit_code != 0
    assert "audience: no persona named 'Nobody'" in created.stderr, created.output
    listed = await invoke(runner, app, "list")
    assert "no campaigns yet" in listed.output


async def test_at_most_five_personas_and_one_audience_a_target(
    runner: CliRunner, tmp_path: Path
) -> None:
    for number in range(6):
        await persona(runner, f"P{number}", "--rule", "lang = es")
    targets = "".join(f"  - {{persona: P{number}, text: Hi}}\n" for number in range(6))
    created = await invoke(
        runner, app, "create", campaign_file(tmp_path, f"name: many\naudience:\n{targets}")
    )
    assert created.exit_code != 0
    assert "at most 5 personas" in created.stderr, created.output
    both = "name: both\naudience:\n  - {persona: P0, segment: readers, text: Hi}\n"
    created = await invoke(runner, app, "create", campaign_file(tmp_path, both))
    assert created.exit_code != 0
    assert "a target has one of segment, query or persona" in created.stderr, created.output


async def test_a_deleted_persona_leaves_the_campaign_saved_with_it_as_it_was(
    runner: CliRunner, tmp_path: Path
) -> None:
    await persona(runner, "Deal hunters", "--rule", "lang = es")
    text = "name: kept\naudience:\n  - {persona: Deal hunters, text: Hola}\n"
    assert (await invoke(runner, app, "create", campaign_file(tmp_path, text))).exit_code == 0
    deleted = await invoke(runner, personas_app, "delete", "Deal hunters")
    assert deleted.exit_code == 0, deleted.output
    assert "deleted persona Deal hunters" in deleted.output
    listed = await invoke(runner, personas_app, "list")
    assert "Deal hunters" not in listed.output
    again = await invoke(runner, personas_app, "delete", "Deal hunters")
    assert again.exit_code != 0
    assert "no persona named 'Deal hunters'" in again.stderr
    shown = await invoke(runner, app, "show", "kept")
    assert "lang = es" in next(line for line in shown.output.splitlines() if "Deal_hunters" in line)
