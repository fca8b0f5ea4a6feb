"""The Bot API emulator in a process of its own (`python -m telegram_emulator`), so its
limits are kept on its own clock, not on a busy test's."""

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram_emulator import EmulatorClient

START_WITHIN = 60.0  # seconds for the process to say where it listens (a hang guard)


@asynccontextmanager
async def emulator_process(*options: str) -> AsyncIterator[tuple[str, EmulatorClient]]:
    """Start one on a free port with `options` (e.g. "--bot-username", "shop_bot"); its
    base URL and a client, until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telegram_emulator", "--port", "0", *options,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_WITHIN):
            banner = (await process.stdout.readline()).decode()
        base_url = banner.split(" at ")[1].split()[0]
        async with EmulatorClient(base_url) as client:
            yield base_url, client
    finally:
        process.terminate()
        await process.wait()
