"""The Bot API emulator in a process of its own (`python -m telegram_emulator`), so its
limits are kept on its own clock, not on a busy test's.

Telegram is a server that no test's CPU load slows down. On a machine with both cores busy,
an emulator at ordinary priority is descheduled for tens of milliseconds at a time: its
answers come late, and where the kernel does not tell when a request arrived
(telegram_emulator/arrivals.py) it reads requests the sender spaced apart as one bunch,
stamping them closer together than they were sent; under an exact 1-second window that is
a 429 the sender did not cause. So where the OS allows it (root, or CAP_SYS_NICE), the
emulator runs at a higher scheduling priority; elsewhere at the ordinary one. Its limits
are the same either way.
"""

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from telegram_emulator import EmulatorClient

START_WITHIN = 60.0  # seconds for the process to say where it listens (a hang guard)
PRIORITY = -10  # the emulator's nice value where it may have one (see above)


@asynccontextmanager
async def emulator_process(*options: str) -> AsyncIterator[tuple[str, EmulatorClient]]:
    """Start one on a free port with `options` (e.g. "--bot-username", "shop_bot"); its
    base URL and a client, until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telegram_emulator", "--port", "0", *options,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    with contextlib.suppress(PermissionError):
        os.setpriority(os.PRIO_PROCESS, process.pid, PRIORITY)
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
