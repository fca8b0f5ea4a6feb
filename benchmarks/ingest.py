"""How fast the bot takes in updates, event logging included.

Feeds N synthetic updates (replies to a broadcast, reactions, button presses on stale
buttons) from existing subscribers through the real Dispatcher with every middleware and
router, on SQLite and, when reachable, PostgreSQL; in the same run, the same updates go
through a bare Dispatcher with one no-op handler, the baseline. The updates arrive parsed
and bound to the bot, as polling hands them over. The event log's last batch is written
before the clock stops; each side runs ROUNDS times and its best run counts. Both wall time
and this process's CPU time are measured (the dispatch target is CPU per update). Once the
updates are made and the database filled, the process's heap is frozen, as `segbot run`
freezes its own once everything is imported (bot.runtime.freeze_startup_heap); both sides
run on it. Prints one JSON line.

    python -m benchmarks.ingest [--updates 20000] [--postgres URL]   (from the repo root)

Targets: at least 2,000 updates/s on SQLite, at most 3x the baseline's time (issue 3);
at most 1.5x the baseline's CPU per update (issue 26).
"""

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import Update
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from bot.dispatcher import build_dispatcher
from bot.runtime import freeze_startup_heap
from core.db import create_engine, create_sessionmaker
from core.events import EventLog
from core.models import Event, Subscriber
from core.settings import Settings, load_settings
from tests.databases import temporary_postgres_database

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
ROUNDS = 3  # each side runs this many times; the best run counts (the machine is noisy)


def synthetic_updates(count: int, users: int, bot: Bot) -> list[Update]:
    """Updates as polling hands them over: parsed, and bound to the bot."""
    updates = []
    for number in range(count):
        user_id = 10_000 + number % users
        user = {"id": user_id, "is_bot": False, "first_name": "U"}
        chat = {"id": user_id, "type": "private", "first_name": "U"}
        date = int(T0.timestamp()) + number
        kind = number % 3
        if kind == 0:
            body: dict[str, Any] = {
                "message": {
                    "message_id": number,
                    "date": date,
                    "chat": chat,
                    "from": user,
                    "text": "thanks!",
                }
            }
        elif kind == 1:
            body = {
                "message_reaction": {
                    "chat": chat,
                    "message_id": 5,
                    "user": user,
                    "date": date,
                    "old_reaction": [],
                    "new_reaction": [{"type": "emoji", "emoji": "👍"}],
                }
            }
        else:
            body = {
                "message": {
                    "message_id": number,
                    "date": date,
                    "chat": chat,
                    "from": user,
                    "sticker": {
                        "file_id": "s",
                        "file_unique_id": "s",
                        "type": "regular",
                        "width": 512,
                        "height": 512,
                        "is_animated": False,
                        "is_video": False,
                    },
                }
            }
        updates.append(Update.model_validate({"update_id": number, **body}, context={"bot": bot}))
    return updates


Seconds = tuple[float, float]  # (wall, CPU)


def _since(started: Seconds) -> Seconds:
    return time.perf_counter() - started[0], time.process_time() - started[1]


def _now() -> Seconds:
    return time.perf_counter(), time.process_time()


async def feed(dispatcher: Dispatcher, bot: Bot, updates: list[Update]) -> Seconds:
    started = _now()
    for update in updates:
        await dispatcher.feed_update(bot, update)
    return _since(started)


async def feed_segbot(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    bot: Bot,
    updates: list[Update],
) -> Seconds:
    """A fresh dispatcher and event log; the clock stops when the last event is written."""
    event_log = EventLog(sessionmaker)
    event_log.start()
    dispatcher = build_dispatcher(settings=settings, sessionmaker=sessionmaker, event_log=event_log)
    started = _now()
    await feed(dispatcher, bot, updates)
    await event_log.close()
    return _since(started)


def baseline_dispatcher() -> Dispatcher:
    async def nothing(_event: object) -> None:
        return None

    dispatcher = Dispatcher()
    dispatcher.message.register(nothing)
    dispatcher.message_reaction.register(nothing)
    return dispatcher


async def measure(url: str, bot: Bot, updates: list[Update], users: int) -> dict[str, Any]:
    engine = create_engine(url)
    await migrations.upgrade(engine)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        await session.execute(
            insert(Subscriber),
            [
                {
                    "telegram_id": 10_000 + n,
                    "chat_id": 10_000 + n,
                    "status": "active",
                    "subscribed_at": T0,
                    "last_seen_at": T0,
                    "attributes": {},
                }
                for n in range(users)
            ],
        )
        await session.commit()
    settings = load_settings(
        bot_token="1:BENCH",  # noqa: S106  (a throwaway bot for the benchmark)
        secret_key="bench",  # noqa: S106
        database_url=url,
    )
    freeze_startup_heap()
    try:
        baselines = [await feed(baseline_dispatcher(), bot, updates) for _ in range(ROUNDS)]
        segbots = [await feed_segbot(settings, sessionmaker, bot, updates) for _ in range(ROUNDS)]
        async with sessionmaker() as session:
            logged = await session.scalar(select(func.count()).select_from(Event))
    finally:
        await engine.dispose()
    baseline, segbot = min(w for w, _ in baselines), min(w for w, _ in segbots)
    baseline_cpu, segbot_cpu = min(c for _, c in baselines), min(c for _, c in segbots)
    return {
        "database": engine.dialect.name,
        "updates_per_s": round(len(updates) / segbot),
        "baseline_updates_per_s": round(len(updates) / baseline),
        "ratio_to_baseline": round(segbot / baseline, 2),
        "updates_per_cpu_s": round(len(updates) / segbot_cpu),
        "baseline_updates_per_cpu_s": round(len(updates) / baseline_cpu),
        "cpu_ratio_to_baseline": round(segbot_cpu / baseline_cpu, 2),
        "events_logged": logged,
        "rounds": ROUNDS,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20_000)
    parser.add_argument("--postgres", default=POSTGRES, help="'' to skip PostgreSQL")
    arguments = parser.parse_args()
    users = max(1, arguments.updates // 2)  # a busy bot: many users, a few updates each
    bot = Bot("1:BENCH")  # never called: no handler answers these updates
    updates = synthetic_updates(arguments.updates, users, bot)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        sqlite = f"sqlite+aiosqlite:///{Path(folder) / 'ingest.db'}"
        results.append(await measure(sqlite, bot, updates, users))
    if arguments.postgres:
        try:
            async with temporary_postgres_database(arguments.postgres, prefix="bench") as url:
                results.append(await measure(url, bot, updates, users))
        except OSError as unreachable:
            results.append({"database": "postgresql", "skipped": str(unreachable)})
    await bot.session.close()
    print(json.dumps({"benchmark": "ingest", "updates": len(updates), "results": results}))


if __name__ == "__main__":
    asyncio.run(main())
