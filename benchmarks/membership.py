"""Membership following one event versus a full refresh of the same segment (issue 24, c).

    python -m benchmarks.membership                 # 100,000 subscribers, 1,000,000 events
    python -m benchmarks.membership --subscribers 1000000 --events 10000000
    python -m benchmarks.membership --postgres ''   # SQLite only

Prints one JSON line. The audience of `benchmarks.segments` (generated the same way,
loaded untimed) goes into SQLite (a temporary file) and into PostgreSQL when reachable at
--postgres (a database made for the run, dropped after it). The segment is a journey's
"clicked but did not buy": `clicked >= 2 within 30d and not buyer`, refreshed once for its
baseline. Then, ROUNDS times each, a subscriber who had clicked once clicks again, and
- `incremental_seconds`: `segments.incremental.follow_changes` for that one event (what
  the running bot does for each committed batch of the event log);
- `full_refresh_seconds`: the full refresh of the segment, after another such click;
both move exactly one subscriber into the segment. The best round of each counts (the
machine is shared); `ratio` is the full refresh's time over the incremental one's.
"""

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from benchmarks.segments import NOW, generate, keep_purchase_sums, load, timed
from core.db import create_engine, create_sessionmaker
from core.models import Event, EventType
from segments.changes import changes_of_events
from segments.incremental import follow_changes
from segments.membership import refresh_memberships
from segments.rules import parse
from segments.rules.compiler import subscriber_ids
from segments.saved import save_segment
from tests.databases import temporary_postgres_database

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
RULE = "clicked >= 2 within 30d and not buyer"
ONE_CLICK_AWAY = "clicked = 1 within 30d and not buyer"
ROUNDS = 5


async def measure(
    url: str, tables: dict[str, pd.DataFrame], sqlite_path: Path | None
) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        await load(engine, tables, sqlite_path)
        await keep_purchase_sums(engine)
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            await save_segment(session, name="window_shoppers", rule_text=RULE, now=NOW)
            statement = subscriber_ids(parse(ONE_CLICK_AWAY), now=NOW).limit(2 * ROUNDS)
            clickers = list((await session.scalars(statement)).all())
        (baseline,) = await refresh_memberships(sessions, now=NOW)
        incremental, full, entered = [], [], 0
        for round_ in range(ROUNDS):
            click = await _click(sessions, clickers[2 * round_])
            update, seconds = await timed(
                follow_changes(sessions, changes=changes_of_events([click]), now=NOW)
            )
            incremental.append(seconds)
            entered += sum(segment.entered for segment in update.updated)
            await _click(sessions, clickers[2 * round_ + 1])
            (refresh,), seconds = await timed(refresh_memberships(sessions, now=NOW))
            full.append(seconds)
            entered += refresh.entered
        return {
            "segment_size": baseline.size,
            "incremental_seconds": round(min(incremental), 4),
            "full_refresh_seconds": round(min(full), 3),
            "ratio": round(min(full) / min(incremental)),
            "entered": entered,  # one per update and per refresh: 2 x ROUNDS
        }
    finally:
        await engine.dispose()


async def _click(sessions: async_sessionmaker[AsyncSession], subscriber_id: int) -> Event:
    async with sessions() as session:
        event = Event(
            subscriber_id=subscriber_id,
            type=EventType.LINK_CLICK,
            occurred_at=NOW,
            payload={"tags": []},
        )
        session.add(event)
        await session.commit()
        return event


async def on_postgres(url: str, tables: dict[str, pd.DataFrame]) -> dict[str, Any] | None:
    """`measure` on a database made for the run; None (said on stderr) when unreachable."""
    try:
        async with temporary_postgres_database(url, prefix="segbot_bench") as fresh:
            return await measure(fresh, tables, None)
    except OSError as error:
        print(f"PostgreSQL unreachable: {error}", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--postgres", default=POSTGRES, help="'' to skip PostgreSQL")
    options = parser.parse_args()
    customers = options.subscribers // 2
    tables = generate(options.subscribers, options.events, options.subscribers, customers)
    results: dict[str, Any] = {
        "benchmark": "membership",
        "subscribers": options.subscribers,
        "events": options.events,
        "rule": RULE,
        "rounds": ROUNDS,
    }
    with tempfile.TemporaryDirectory(prefix="segbot-bench-") as work:
        path = Path(work) / "bench.db"
        results["sqlite"] = asyncio.run(measure(f"sqlite+aiosqlite:///{path}", tables, path))
    if options.postgres:
        results["postgresql"] = asyncio.run(on_postgres(options.postgres, tables))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
