"""`segbot run` as a separate process, as an operator starts it (`segbot demo` as one:
tests/demo/test_rehearsal.py)."""

import asyncio
import signal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telegram_emulator import Emulator
from tests.e2e.conftest import segbot_run

pytestmark = pytest.mark.e2e


async def test_segbot_run_serves_until_sigterm_then_exits_cleanly(
    emulator: Emulator, database_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    process = await segbot_run(
        emulator, database_url, token="123456:PROCESS-TEST", stderr=asyncio.subprocess.STDOUT
    )
    try:
        await emulator.send_text(31337, "/start from_process")
        # A hang guard, not a speed test: a busy machine starts a process slowly.
        welcome, _question = await emulator.wait_for_messages(31337, count=2, timeout=90)
        assert welcome.text is not None
        assert welcome.text.startswith("Welcome!")
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    assert b"segbot stopped" in output
    assert b"PROCESS-TEST" not in output  # the token never reaches the logs
