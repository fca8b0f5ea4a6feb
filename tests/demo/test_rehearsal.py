"""`segbot demo` as a person runs it: in an 80-column terminal, from a folder of their own,
whose environment and .env hold settings of theirs the demo must not use (a Telegram
server, a database and a Redis nobody listens at, a rate that is no number, a config file
that is not there). It exits 0 without a traceback (a scheduler job stopped mid-run used
to print one), its tables read whole, its journeys send each newcomer what their clicks
and purchase call for, and the charts the owner received are in ./segbot-demo/charts, not
in the system's temporary folder."""

import asyncio
import io
import sys
from pathlib import Path

import pytest
from rich.console import Console

from core.errors import SegbotError
from demo import rehearsal

SEGBOT = str(Path(sys.executable).parent / "segbot")
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.e2e
@pytest.mark.timeout(300)  # the whole demo, on a machine that may be busy
async def test_the_demo_exits_cleanly_and_keeps_its_charts_in_the_working_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("SEGBOT_TELEGRAM_API_BASE=http://127.0.0.1:9\n")
    process = await asyncio.create_subprocess_exec(
        SEGBOT,
        "demo",
        cwd=tmp_path,
        env={
            "PATH": "",
            "COLUMNS": "80",
            "HOME": str(tmp_path),
            "SEGBOT_RATE_LIMIT": "abc",
            "SEGBOT_REDIS_URL": "redis://127.0.0.1:9/7",  # nothing listens there
            "SEGBOT_DATABASE_URL": "postgresql://u@127.0.0.1:9/x",
            "SEGBOT_CONFIG": str(tmp_path / "missing.yaml"),
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        output, errors = await asyncio.wait_for(process.communicate(), timeout=280)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text, problems = output.decode(), errors.decode()
    assert process.returncode == 0, problems
    for sign in ("Traceback", "CancelledError", "ERROR", "database is locked"):
        assert sign not in problems, problems
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in text
    assert "conversions" in text  # the funnel, whole
    charts = sorted((tmp_path / "segbot-demo" / "charts").glob("*.png"))
    assert charts
    assert all(chart.read_bytes().startswith(PNG) for chart in charts)
    assert "segbot-demo/charts" in text
    # The journeys: each newcomer got what their clicks and purchase called for.
    said = " ".join(text.split())
    assert "Gina got: Welcome, Gina!" in said
    assert "Still thinking it over, Gina?" in said  # clicked, did not buy: the nudge
    assert "Hugo, in case you missed them" in said  # did not click: the reminder
    assert "Glad you had a look, Ivy" in said
    assert "Still thinking it over, Ivy" not in said  # clicked and bought: no nudge
    assert "2 entries by 2 people: 0 held out, 0 inside now, 1 converted" in said
    assert "journey-welcome_series-2.png" in [chart.name for chart in charts]
    # The AI segments: clustered, profiled, and a persona made of the largest.
    assert "AI 1: " in said
    assert "Persona Demo persona: " in said


async def test_a_folder_it_cannot_write_is_said_before_anything_runs(tmp_path: Path) -> None:
    taken = tmp_path / "segbot-demo"
    taken.write_text("a file, not a folder")
    printed = io.StringIO()
    with pytest.raises(SegbotError, match=r"segbot-demo/charts, which cannot be written"):
        await rehearsal.run(Console(file=printed), output=taken)
    assert printed.getvalue() == ""
