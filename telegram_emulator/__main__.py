"""Run the emulator on its own: `python -m telegram_emulator --port 8081 [--no-limits]`.

Point the bot at it with SEGBOT_TELEGRAM_API_BASE and drive users with `EmulatorClient`.
It stops cleanly on Ctrl-C (SIGINT) or SIGTERM, also when started as a background job
(whose shell set it to ignore Ctrl-C: Python then raises no KeyboardInterrupt).
"""

import argparse
import asyncio
import contextlib
import gc
import signal

from telegram_emulator.emulator import Emulator
from telegram_emulator.limits import Limits


async def serve(host: str, port: int, limits: Limits, bot_username: str) -> None:
    # Where the kernel does not tell when a request arrived (telegram_emulator/arrivals.py),
    # the emulator stamps it when it takes it: a long garbage-collection pause would stamp
    # the requests that queued meanwhile together, as if sent in a burst. Everywhere, such
    # a pause holds up the answers. What exists at start is frozen out of collection, and
    # collections come less often.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    stop = asyncio.Event()  # before it says it listens: a stop may come right after
    for number in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(number, stop.set)
    emulator = Emulator(limits, bot_username=bot_username)
    base_url = await emulator.start(host, port)
    print(
        f"Telegram Bot API emulator at {base_url} (control API: {base_url}/_emulator)", flush=True
    )
    try:
        await stop.wait()
    finally:
        await emulator.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m telegram_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--bot-username", default="segbot_demo_bot")
    parser.add_argument("--no-limits", action="store_true", help="disable flood limits")
    parser.add_argument("--global-rate", type=int, default=30, help="sends per second")
    args = parser.parse_args(argv)
    limits = Limits(enabled=not args.no_limits, global_per_second=args.global_rate)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, limits, args.bot_username))


if __name__ == "__main__":
    main()
