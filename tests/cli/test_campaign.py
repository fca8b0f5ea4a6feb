"""`segbot campaign ...` through typer's CliRunner, on the test database."""

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from cli.campaign import app
from tests.broadcasts.audience import add_subscribers
from tests.cli.conftest import invoke

CAMPAIGN = """
name: welcome
audience:
  - segment: nobody_yet
    text: "x"
default:
  text: "Hello {{ first_name }}, see https://shop.example/"
"""


def campaign_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "campaign.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


async def test_a_bad_template_is_refused_with_the_reason(runner: CliRunner, tmp_path: Path) -> None:
    bad = "name: broken\ndefault: {text: 'Hi <b>{{ first_name }}'}\n"
    result = await invoke(runner, app, "create", campaign_file(tmp_path, bad))
    assert result.exit_code == 2
    assert "default, variant a: <b> is never closed" in result.output
    unknown = "name: broken\ndefault: {text: 'Hi {{ frist_name }}'}\n"
    result = await invoke(runner, app, "create", campaign_file(tmp_path, unknown))
    assert result.exit_code == 2
    assert "unknown variable(s) frist_name" in result.output
    result = await invoke(runner, app, "list")
    assert "no campaigns yet" in result.output


async def test_an_unknown_segment_is_refused(runner: CliRunner, tmp_path: Path) -> None:
    result = await invoke(runner, app, "create", campaign_file(tmp_path, CAMPAIGN))
    assert result.exit_code == 2
    assert "no segment named 'nobody_yet'" in result.output


async def test_create_preview_send_pause_resume_cancel(
    runner: CliRunner, tmp_path: Path, session: AsyncSession
) -> None:
    [first, *_] = await add_subscribers(session, 3)
    text = CAMPAIGN.replace('  - segment: nobody_yet\n    text: "x"\n', "")
    text = text.replace("audience:\n", "")
    created = await invoke(runner, app, "create", campaign_file(tmp_path, text))
    assert created.exit_code == 0, created.output
    assert "saved campaign" in created.output
    assert "draft" in created.output
    listed = await invoke(runner, app, "list")
    assert "welcome" in listed.output
    preview = await invoke(runner, app, "preview", "welcome", "--subscriber", str(first))
    assert "Hello User1, see https://shop.example/" in preview.output
    sent = await invoke(runner, app, "send-now", "welcome", "--no-wait")
    assert sent.exit_code == 0, sent.output
    assert "3 to send" in sent.output
    assert (await invoke(runner, app, "pause", "welcome")).exit_code == 0
    again = await invoke(runner, app, "pause", "welcome")
    assert again.exit_code == 2
    assert "is not sending" in again.output
    assert (await invoke(runner, app, "resume", "welcome")).exit_code == 0
    cancelled = await invoke(runner, app, "cancel", "welcome")
    assert "3 queued messages will not be sent" in cancelled.output
    shown = await invoke(runner, app, "show", "welcome")
    assert "cancelled 3" in shown.output
