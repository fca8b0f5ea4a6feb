"""`segbot segments generate|lookalike` and `segbot personas` through typer's CliRunner."""

from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.personas import app as personas_app
from cli.segments import app as segments_app
from tests.cli.conftest import invoke
from tests.segments.ai.planted import plant


async def test_generate_then_personas_and_a_lookalike(
    runner: CliRunner, session: AsyncSession
) -> None:
    await plant(session, per_group=20)
    generated = await invoke(runner, segments_app, "generate", "--k-min", "3", "--k-max", "3")
    assert generated.exit_code == 0, generated.output
    assert "3 AI segments of 60 subscribers" in generated.output
    assert "how many: k=3, " in generated.output
    assert "Names use only traits held by at least 60% of a segment" in generated.output
    assert "tag interest:deals: 100% (audience 33%)" in generated.output
    first = next(line for line in generated.output.splitlines() if line.startswith("AI 1:"))
    name = first.rsplit(": ", 1)[0]

    persona = await invoke(runner, personas_app, "from-segment", name, "--name", "First")
    assert persona.exit_code == 0, persona.output
    listed = await invoke(runner, personas_app, "list")
    assert "First" in listed.output
    lookalike = await invoke(runner, segments_app, "lookalike", name, "--size", "5")
    assert lookalike.exit_code == 0, lookalike.output
    assert "saved lookalike: AI 1" in lookalike.output
    bad = await invoke(runner, segments_app, "generate", "--describe", "nothing useful")
    assert bad.exit_code == 2
    assert "names no features" in bad.output


async def test_generate_on_too_few_subscribers_exits_1(runner: CliRunner) -> None:
    """A well-formed request the audience cannot answer is "could not" (1), not a bad
    argument (2)."""
    empty = await invoke(runner, segments_app, "generate", "--k-min", "3", "--k-max", "3")
    assert empty.exit_code == 1, empty.output
    assert "subscribers" in empty.output
