"""Webhook ingest on PostgreSQL with real `segbot run --role bot --webhook` processes:
updates acknowledged (and handled) per second by 1 and 2 bot processes, the updates posted
round-robin as a load balancer would, next to the same posts to a bare aiohttp endpoint that
only answers 200, all in one run. Prints one JSON line.

    python -m benchmarks.webhook [--updates 4000] [--subscribed]   (from the repo root)

Needs PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379, like the test suite.
Targets (issue 26): one process within 3x of the bare endpoint's time; two processes at
least 1.6x one.

The run also measures the floor under both (`benchmarks.webhook_floor`), with one process
and with two sharing one inbox: a process that keeps each update in PostgreSQL before
acknowledging it and handles it through aiogram with one handler that does nothing, and no
segbot code. The one process's ratio to the bare endpoint is as close as any such bot could
come to it; one bot process's ratio to it is what segbot itself costs. What a second floor
process adds (`floor_two_to_one`) is about the most a second process can add on this
machine.

Each measurement also says how busy the machine's cores were (`machine_busy`, all processes
together): a second process can add only what the first left idle. Hence `two_bots_ceiling`,
the most two processes could reach here: one process's updates per second over its
`machine_busy`, every core busy at the same cost per update (the posting side, PostgreSQL,
Redis and the emulator run on these cores too).

The updates are text messages from 1,000 people who have no subscriber row (as users of a
bot moved to segbot, who pressed Start before it came): the event log holds each touch for
its row, then gives it up. With `--subscribed` they are subscribers, and every touch
becomes an event, written with the others of its batch (the targets are for the former).
"""

import argparse
import asyncio
import json
import os
from pathlib import Path
from tempfile import TemporaryDirectory

from benchmarks.broadcast import POSTGRES, emulator_process
from benchmarks.scale import bare_endpoint, webhooks_with
from benchmarks.webhook_floor import floor_rates
from core.settings import load_settings
from tests.databases import temporary_postgres_database


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=4000)
    parser.add_argument("--subscribed", action="store_true", help="the posters are subscribers")
    options = parser.parse_args()
    updates, subscribed = options.updates, options.subscribed
    load_settings(database_url=POSTGRES)  # a bad URL fails here, before any process starts
    with TemporaryDirectory(prefix="segbot-webhook-") as folder, emulator_process(10) as base:
        logs = Path(folder)
        bare = await bare_endpoint(updates)
        floors = []
        for processes in (1, 2):
            async with temporary_postgres_database(POSTGRES) as url:
                floors.append(await floor_rates(url, updates, processes=processes))
        floor, floor_two = floors
        one, two = [
            await webhooks_with(count, updates, emulator_url=base, logs=logs, subscribed=subscribed)
            for count in (1, 2)
        ]
    print(
        json.dumps(
            {
                "benchmark": "webhook",
                "cores": os.cpu_count(),
                "updates": updates,
                "subscribed": subscribed,
                "bare_endpoint_per_second": round(bare),
                "floor": floor,
                "floor_two_processes": floor_two,
                "bots": [one, two],
                "floor_ratio_to_bare": round(bare / floor["acknowledged_per_second"], 2),
                "one_bot_ratio_to_bare": round(bare / one["acknowledged_per_second"], 2),
                "one_bot_ratio_to_floor": {
                    rate: round(floor[rate] / one[rate], 2)
                    for rate in ("acknowledged_per_second", "handled_per_second")
                },
                "floor_two_to_one": round(
                    floor_two["acknowledged_per_second"] / floor["acknowledged_per_second"], 2
                ),
                "two_bots_to_one": round(
                    two["acknowledged_per_second"] / one["acknowledged_per_second"], 2
                ),
                "two_bots_ceiling": round(1 / one["machine_busy"], 2)
                if one["machine_busy"]
                else None,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
