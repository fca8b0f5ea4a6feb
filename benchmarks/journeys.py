"""How fast journeys react and move people on (issue 24, a and b).

    python -m benchmarks.journeys                   # 500 events/s for 60 s; 1,000,000 due
    python -m benchmarks.journeys --small           # 500 events/s for 10 s; 20,000 due
    python -m benchmarks.journeys --postgres ''     # SQLite only (no b)
    python -m benchmarks.journeys --only latency|advance

Prints one JSON line. Loading is not timed.

(a) Trigger latency, on SQLite (a temporary file) and on PostgreSQL when reachable at
    --postgres (a database made for the run, dropped after): a journey whose trigger is a
    reply and whose first step sends a message. Replies from distinct subscribers are
    recorded at `--rate` per second for `--seconds` through the bot's event log
    (core.events, batched writes) while the journey runner runs as on the scheduler's
    leader (woken by the event log's listener, else polling every 0.5 s). A watcher
    looks for new deliveries every WATCH_SECONDS; an event's latency runs from the moment
    it was recorded to the moment its delivery was seen queued (committed): p50, p95 and
    the slowest, target p95 < 2 s. The watcher's interval is the figures' resolution.
(b) Advancing due enrolments, PostgreSQL only: N enrolments due at a `wait` step, moved
    on by the engine (journeys.engine: the step log written, each enrolment set due at
    the next wait) against a bare `UPDATE` that moves the same rows to the same step in
    the same run (then put back). Each starts on a table just vacuumed and analysed, so
    neither pays for the other's dead rows, nor the bare UPDATE alone for the first visit
    to freshly loaded rows. Target: the engine within 3x the bare UPDATE. The load
    average (1 minute) before and after is printed: other work on the machine skews it.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import migrations
from benchmarks.broadcast import add_audience
from benchmarks.segments import NOW, on_postgres, timed
from broadcasts.models import Delivery
from core.clock import utcnow
from core.db import create_engine, create_sessionmaker
from core.events import EventLog, Touch
from core.models import EventType, Subscriber
from core.wakeups import woken_within
from journeys.engine import Engine
from journeys.models import Enrolment, EnrolmentStatus, JourneyStep
from journeys.runner import JourneyRunner
from journeys.spec import parse_journey
from journeys.store import CLI_ACTOR, save_journey

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DAY = timedelta(days=1)
WATCH_SECONDS = 0.05
SETTLE_SECONDS = 60.0  # after the last event, how long the deliveries may take to appear
TICK_SECONDS = 0.01  # the producer records a tick's share of events this often
WELCOME = """
name: bench_reply
trigger: replied
steps:
  - id: hello
    send: {text: "Thanks for writing, {{ first_name }}!"}
"""
WAITS = """
name: bench_waits
trigger: manual
steps:
  - id: first
    wait: 1d
  - id: second
    wait: 1d
"""


async def save(session: AsyncSession, text_: str) -> int:
    """The journey's version id."""
    spec = parse_journey(text_, source="benchmark")
    saved = await save_journey(session, spec=spec, source=text_, now=utcnow(), actor=CLI_ACTOR)
    return saved.version.id


# -- (a) trigger latency -------------------------------------------------------------------


async def measure_latency(url: str, *, rate: int, seconds: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        events = rate * seconds
        async with sessionmaker() as session:
            await add_audience(session, events)
            await save(session, WELCOME)
            people = dict(
                (await session.execute(select(Subscriber.id, Subscriber.telegram_id))).all()
            )
        event_log = EventLog(sessionmaker)
        runner = JourneyRunner(sessionmaker)
        event_log.listen(runner.heard)
        event_log.start()
        running = asyncio.create_task(runner.keep_running())
        recorded: dict[int, float] = {}
        seen: dict[int, float] = {}
        everyone = asyncio.Event()
        watching = asyncio.create_task(_watch(sessionmaker, people, seen, everyone))
        try:
            started = time.perf_counter()
            await _produce(event_log, recorded, rate=rate, seconds=seconds)
            produced = time.perf_counter() - started
            await woken_within(everyone, SETTLE_SECONDS)
        finally:
            for task in (watching, running):
                task.cancel()
            await asyncio.gather(watching, running, return_exceptions=True)
            await event_log.close()
        latencies = np.array([seen[who] - recorded[who] for who in seen])
        return {
            "events": events,
            "achieved_rate": round(events / produced, 1),
            "queued": len(seen),
            "p50_seconds": _percentile(latencies, 50),
            "p95_seconds": _percentile(latencies, 95),
            "max_seconds": _percentile(latencies, 100),
            "resolution_seconds": WATCH_SECONDS,
        }
    finally:
        await engine.dispose()


async def _produce(
    event_log: EventLog, recorded: dict[int, float], *, rate: int, seconds: int
) -> None:
    """Replies from telegram ids 1, 2, ... at `rate` a second, on a steady schedule."""
    total, per_tick = rate * seconds, rate * TICK_SECONDS
    started = time.perf_counter()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - started) / TICK_SECONDS * per_tick) + 1)
        while sent < due:
            sent += 1
            recorded[sent] = time.perf_counter()
            event_log.record(Touch(sent, EventType.MESSAGE, utcnow(), {"text": "hi"}))
        await asyncio.sleep(TICK_SECONDS)


async def _watch(
    sessionmaker: async_sessionmaker[AsyncSession],
    people: dict[int, int],
    seen: dict[int, float],
    everyone: asyncio.Event,
) -> None:
    """Note when each subscriber's delivery is first seen queued (by telegram id); set
    `everyone` once every subscriber's is."""
    last = 0
    while True:
        async with sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Delivery.id, Delivery.subscriber_id)
                    .where(Delivery.id > last)
                    .order_by(Delivery.id)
                )
            ).all()
        now = time.perf_counter()
        for delivery_id, subscriber_id in rows:
            seen.setdefault(people[subscriber_id], now)
            last = max(last, delivery_id)
        if len(seen) == len(people):
            everyone.set()
        await asyncio.sleep(WATCH_SECONDS)


def _percentile(values: "np.ndarray[Any, Any]", q: float) -> float | None:
    return None if values.size == 0 else round(float(np.percentile(values, q)), 3)


# -- (b) advancing due enrolments ----------------------------------------------------------


async def measure_advance(url: str, *, enrolments: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        sessionmaker = create_sessionmaker(engine)
        async with sessionmaker() as session:
            await add_audience(session, enrolments)
            version_id = await save(session, WAITS)
        await _enrol_everyone(sessionmaker, version_id)
        await _vacuum(url)
        load_before = os.getloadavg()[0]
        moved_bare, bare_seconds = await timed(_bare_update(sessionmaker, to="second"))
        await _bare_update(sessionmaker, to="first")
        await _vacuum(url)
        journeys = Engine(sessionmaker, clock=lambda: NOW)
        moved, engine_seconds = await timed(_advance_all(journeys))
        async with sessionmaker() as session:
            logged = await session.scalar(select(func.count()).select_from(JourneyStep))
        return {
            "enrolments": enrolments,
            "bare_update_seconds": round(bare_seconds, 2),
            "engine_seconds": round(engine_seconds, 2),
            "ratio": round(engine_seconds / bare_seconds, 2),
            "moved_bare": moved_bare,
            "moved_engine": moved,
            "step_log_rows": logged or 0,
            "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        }
    finally:
        await engine.dispose()


async def _enrol_everyone(sessionmaker: async_sessionmaker[AsyncSession], version_id: int) -> None:
    """Every subscriber inside the journey at `first`, due a day ago."""
    statement = text(
        "INSERT INTO journey_enrolments (journey_id, version_id, subscriber_id, entry,"
        " trigger_key, status, step, step_since, next_due_at, entered_at)"
        " SELECT v.journey_id, v.id, s.id, 1, 'manual', 'active', 'first', :since, :due, :since"
        " FROM subscribers AS s, journey_versions AS v WHERE v.id = :version"
    )
    async with sessionmaker() as session:
        await session.execute(
            statement,
            {"version": version_id, "since": NOW - 2 * DAY, "due": NOW - DAY},
        )
        await session.commit()


async def _bare_update(sessionmaker: async_sessionmaker[AsyncSession], *, to: str) -> int:
    """Move every enrolment due at `first` on to `second` in one statement, as the engine
    does; `to="first"` puts them back as they were."""
    inside = Enrolment.status == EnrolmentStatus.ACTIVE
    where: tuple[ColumnElement[bool], ...]
    if to == "second":
        where, due = (inside, Enrolment.step == "first", Enrolment.next_due_at <= NOW), DAY
    else:
        where, due = (inside, Enrolment.step == "second"), -DAY
    async with sessionmaker() as session:
        result = await session.execute(
            update(Enrolment)
            .where(*where)
            .values(step=to, step_since=NOW, next_due_at=NOW + due)
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


async def _vacuum(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


async def _advance_all(engine: Engine) -> int:
    """Advance until nothing is due; how many moved."""
    moved = 0
    while True:
        advanced = await engine.advance()
        if not advanced.moved:
            return moved
        moved += advanced.moved


# -- the command -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="10 s of events; 20,000 due")
    parser.add_argument("--postgres", default=POSTGRES, help="a server URL; '' for SQLite only")
    parser.add_argument("--only", choices=("latency", "advance"))
    parser.add_argument("--rate", type=int, default=500, help="events per second (a)")
    options = parser.parse_args()
    seconds, enrolments = (10, 20_000) if options.small else (60, 1_000_000)
    results: dict[str, Any] = {"small": options.small, "rate": options.rate, "seconds": seconds}
    if options.only in (None, "latency"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'journeys.db'}"
            results["latency_sqlite"] = asyncio.run(
                measure_latency(url, rate=options.rate, seconds=seconds)
            )
        if options.postgres:
            results["latency_postgresql"] = asyncio.run(
                on_postgres(
                    options.postgres,
                    lambda url: measure_latency(url, rate=options.rate, seconds=seconds),
                )
            )
    if options.only in (None, "advance") and options.postgres:
        results["advance_postgresql"] = asyncio.run(
            on_postgres(options.postgres, lambda url: measure_advance(url, enrolments=enrolments))
        )
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()
