"""Segments benchmark: RFM end to end, a 4-predicate count, a refresh of 20 saved segments.

    python -m benchmarks.segments           # 1,000,000 subscribers, 10,000,000 events,
                                            # 10,000,000 orders (500,000 customers)
    python -m benchmarks.segments --small   # 20,000 / 200,000 / 200,000 (10,000)

Prints one JSON line. The same generated data goes into SQLite (a temporary file) and into
PostgreSQL when reachable at --postgres-url (a database created for the run and dropped
after it). Loading is not timed. Timed, per database:
- RFM end to end (read, score, persist) against `rfm.score` on the same orders as an
  in-memory frame (the best of three), in the same run; target within 3x. The timed
  rescore is today's, the day after `rfm_from_orders_seconds` (a rescore as of yesterday,
  summed from all the orders): it reads the purchase facts kept on each customer (loaded
  with the data, as the CRM sync keeps them) and writes the scores that changed;
- the count of a 4-predicate segment (best of 3); target under 2 s on PostgreSQL;
- a full membership refresh of 20 saved segments (the first, when everyone enters, and a
  second one); target under 60 s on PostgreSQL;
- the baseline, measured in the same run just before: the 20 segments' rules counted one
  after another (`count_matching`); each refresh's ratio to it, target within 1.5x
  (issue 26).
"""

import argparse
import asyncio
import io
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import migrations
from core.db import create_engine, create_sessionmaker
from crm_sync.facts import refresh_subscriber_purchases
from segments.activity import refresh_activity
from segments.config import load_segments_config
from segments.ladder import refresh_ladder
from segments.membership import refresh_memberships
from segments.rfm.scoring import score
from segments.rfm.store import rescore_rfm
from segments.saved import count_matching, save_segment
from tests.databases import temporary_postgres_database

T = TypeVar("T")
POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CHUNK = 500_000
COUNTED = "lang = es and clicked within 30d and orders >= 2 and stage >= problem_aware"
SEGMENTS = {
    "spanish": "lang = es",
    "iberia_adults": "country in (ES, MX) and age >= 25",
    "clicked_week": "clicked within 7d",
    "readers_not_clickers": "read within 30d and not clicked within 30d",
    "best": "rfm in (champions, loyal)",
    "slipping": "rfm = at_risk or rfm = cant_lose",
    "considering": "stage >= solution_aware",
    "engaged": "activity in (active, very_active)",
    "asleep": "activity = dormant",
    "recent_buyers": "buyer and last_purchase within 90d",
    "big_baskets": "orders >= 5 and avg_check > 60",
    "big_spenders": "spent > 500",
    "deal_hunters": "tag:vip or interest:deals",
    "high_income": "attr.income = high",
    "newcomers": "subscribed within 30d",
    "talkers": "replied >= 2 within 30d",
    "campaign_7": "pressed on campaign 7",
    "spanish_buyers": "in segment spanish and buyer",
    "window_shoppers": "not buyer and clicked >= 3 within 30d",
    "recent_but_rare": "rfm.r >= 4 and rfm.f <= 2",
}
EVENT_KINDS = {  # event type -> (share of all events, payloads to pick from)
    "read": (0.40, ['{"delivery": 1}']),
    "link_click": (
        0.20,
        ['{"tags": ["pricing"]}', '{"tags": ["deals", "spring"]}', '{"tags": ["problem"]}', "{}"],
    ),
    "message": (0.10, ['{"kind": "text"}']),
    "button": (0.10, ['{"data": "ask_price"}', '{"data": "add_to_cart"}', '{"data": "more"}']),
    "reaction": (0.05, ['{"emoji": "👍"}']),
    "start": (0.05, ['{"source": "blog"}', '{"source": null}']),
    "quiz_answer": (0.05, ['{"question": "need", "answers": ["problem"]}']),
    "command": (0.05, ["{}"]),
}
LANGUAGES = ["es", "en", "ru", "pt"]
STATUSES = ["active", "unsubscribed", "blocked"]
TAGS = ["vip", "interest:deals", "interest:news", "ladder:problem_aware"]
ATTRIBUTES = [json.dumps({"age": age, "income": income}) for age in (19, 27, 38, 52)
              for income in ("low", "mid", "high")] + ["{}"]  # fmt: skip


def _moments(random: np.random.Generator, size: int, days: int) -> pd.Series:
    seconds = random.integers(0, days * 86_400, size=size)
    return pd.Series(pd.Timestamp(NOW) - pd.to_timedelta(seconds, unit="s"))


def generate(subscribers: int, events: int, orders: int, customers: int) -> dict[str, pd.DataFrame]:
    """The tables to load, vectorised; ids from 1 for subscribers and customers."""
    random = np.random.default_rng(5)
    ids = np.arange(1, subscribers + 1)
    people = pd.DataFrame(
        {
            "id": ids,
            "telegram_id": ids,
            "chat_id": ids,
            "language_code": random.choice(LANGUAGES, subscribers, p=[0.4, 0.3, 0.2, 0.1]),
            "country": random.choice(["ES", "MX", "US", "RU", "BR"], subscribers),
            "status": random.choice(STATUSES, subscribers, p=[0.9, 0.07, 0.03]),
            "subscribed_at": _moments(random, subscribers, 730),
            "last_seen_at": _moments(random, subscribers, 120),
            "attributes": np.array(ATTRIBUTES)[random.integers(0, len(ATTRIBUTES), subscribers)],
        }
    )  # fmt: skip
    tagged = random.choice(ids, subscribers // 3, replace=False)
    tags = pd.DataFrame(
        {
            "subscriber_id": tagged,
            "tag": random.choice(TAGS, len(tagged)),
            "added_at": _moments(random, len(tagged), 200),
        }
    )  # fmt: skip
    kinds = list(EVENT_KINDS)
    kind = random.choice(len(kinds), events, p=[EVENT_KINDS[k][0] for k in kinds])
    payload = np.empty(events, dtype=object)
    for number, name in enumerate(kinds):
        chosen = kind == number
        options = EVENT_KINDS[name][1]
        payload[chosen] = np.array(options, dtype=object)[
            random.integers(0, len(options), chosen.sum())
        ]
    campaign = pd.array(random.integers(1, 51, events), dtype="Int64")
    campaign[random.random(events) < 0.5] = pd.NA
    log = pd.DataFrame(
        {
            "subscriber_id": random.integers(1, subscribers + 1, events),
            "type": np.array(kinds)[kind],
            "occurred_at": _moments(random, events, 180),
            "campaign_id": campaign,
            "payload": payload,
        }
    )  # fmt: skip
    sales = pd.DataFrame(
        {
            "source": "shop",
            "external_id": np.char.add("O", np.arange(1, orders + 1).astype(str)),
            "customer_id": random.integers(1, customers + 1, orders),
            "ordered_at": _moments(random, orders, 3 * 365),
            "amount": np.round(random.gamma(2.0, 40.0, orders), 2),
            "counts_as_purchase": True,
        }
    )
    refunds = random.random(orders) < 0.03
    sales.loc[refunds, "amount"] = -sales.loc[refunds, "amount"]
    sales.loc[refunds, "counts_as_purchase"] = False
    sales["created_at"] = sales["updated_at"] = pd.Timestamp(NOW)
    counted = sales[sales["counts_as_purchase"]]
    facts = counted.groupby("customer_id").agg(
        orders_count=("amount", "size"),
        total_spent=("amount", "sum"),
        last_order_at=("ordered_at", "max"),
    )
    linked = pd.array(random.choice(ids, customers, replace=False), dtype="Int64")
    linked[random.random(customers) < 0.2] = pd.NA
    clients = pd.DataFrame(
        {
            "id": np.arange(1, customers + 1),
            "source": "shop",
            "external_id": np.char.add("C", np.arange(1, customers + 1).astype(str)),
            "attributes": "{}",
            "subscriber_id": linked,
            "created_at": _moments(random, customers, 1000),
        }
    ).join(facts, on="id")
    clients["updated_at"] = pd.Timestamp(NOW)
    clients["orders_count"] = clients["orders_count"].fillna(0).astype("int64")
    clients["total_spent"] = clients["total_spent"].fillna(0).round(2)
    clients["average_order_value"] = (clients["total_spent"] / clients["orders_count"]).round(2)
    return {
        "subscribers": people,
        "subscriber_tags": tags,
        "events": log,
        "customers": clients,
        "orders": sales,
    }


def _chunks(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), CHUNK):
        yield frame.iloc[start : start + CHUNK]


async def load(
    engine: AsyncEngine, tables: dict[str, pd.DataFrame], sqlite_path: Path | None
) -> float:
    """Load `tables` into the migrated database (the SQLite file at `sqlite_path`, else
    `engine`'s PostgreSQL); seconds taken."""
    started = time.perf_counter()
    if sqlite_path is not None:
        await engine.dispose()
        await asyncio.to_thread(load_sqlite, sqlite_path, tables)
    else:
        await load_postgres(engine, tables)
    return time.perf_counter() - started


async def keep_purchase_sums(engine: AsyncEngine) -> None:
    """What the CRM sync keeps beside the customers it stores, derived from the loaded
    ones: the purchase facts per subscriber (`crm_sync.facts`)."""
    async with create_sessionmaker(engine)() as session:
        await refresh_subscriber_purchases(session)
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("ANALYZE subscriber_purchases"))
        await session.commit()


def load_sqlite(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA cache_size = -2000000")  # 2 GB: index pages stay in memory
    connection.execute("PRAGMA synchronous = OFF")  # a throwaway file: no need to be durable
    try:
        for table, frame in tables.items():
            indexes = connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
                "AND sql IS NOT NULL",
                (table,),
            ).fetchall()
            for name, _ in indexes:  # built once after the load: much faster than row by row
                connection.execute(f'DROP INDEX "{name}"')
            columns = list(frame.columns)
            marks = ", ".join("?" * len(columns))
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608
            for chunk in _chunks(frame):
                connection.executemany(statement, _sqlite_rows(chunk))
            for _, sql in indexes:
                connection.execute(sql)
            connection.commit()
        connection.execute("ANALYZE")
        connection.commit()
    finally:
        connection.close()


def _sqlite_rows(chunk: pd.DataFrame) -> Iterator[tuple[object, ...]]:
    """Rows as SQLite takes them: times as SQLAlchemy stores them, NULL for missing."""
    values = {}
    for column in chunk.columns:
        series = chunk[column]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            values[column] = _utc_text(series)
        else:
            values[column] = series.astype(object).where(series.notna(), None).to_numpy()
    return zip(*values.values(), strict=True)


async def load_postgres(engine: AsyncEngine, tables: dict[str, pd.DataFrame]) -> None:
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None  # noqa: S101
        await raw.execute("SET session_replication_role = replica")  # no FK triggers per row
        for table, frame in tables.items():
            indexes = await raw.fetch(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = $1 AND "
                "NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                table,
            )
            for index in indexes:  # built once after the load: much faster than row by row
                await raw.execute(f'DROP INDEX "{index["indexname"]}"')
            for chunk in _chunks(frame):
                text = _csv(chunk).encode()
                await raw.copy_to_table(
                    table, source=io.BytesIO(text), columns=list(frame.columns), format="csv"
                )
            for index in indexes:
                await raw.execute(index["indexdef"])
        for table in ("subscribers", "customers"):
            await raw.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        await raw.execute("SET session_replication_role = DEFAULT")
        await raw.execute("VACUUM ANALYZE")


def _csv(chunk: pd.DataFrame) -> str:
    formatted = chunk.copy()
    for column in chunk.columns:
        if isinstance(chunk[column].dtype, pd.DatetimeTZDtype):
            formatted[column] = _utc_text(chunk[column])
    return formatted.to_csv(index=False, header=False)


def _utc_text(moments: pd.Series) -> np.ndarray[Any, np.dtype[np.object_]]:
    """Aware times as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (how SQLAlchemy stores them on
    SQLite, and a timestamp PostgreSQL reads as UTC here); None where missing."""
    naive = moments.dt.tz_convert(UTC).dt.tz_localize(None).to_numpy("datetime64[us]")
    text = np.char.replace(np.datetime_as_string(naive, unit="us"), "T", " ")
    result: np.ndarray[Any, np.dtype[np.object_]] = text.astype(object)
    result[np.isnat(naive)] = None
    return result


async def timed(work: Awaitable[T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = await work
    return result, time.perf_counter() - started


async def measure(
    url: str, tables: dict[str, pd.DataFrame], sqlite_path: Path | None
) -> dict[str, Any]:
    engine = create_engine(url)
    config = load_segments_config({})
    try:
        await migrations.upgrade(engine)
        loaded = await load(engine, tables, sqlite_path)
        await keep_purchase_sums(engine)
        sessions = create_sessionmaker(engine)
        result: dict[str, Any] = {"load_seconds": round(loaded, 1)}
        session: AsyncSession
        async with sessions() as session:  # a past day: summed from all the orders
            _, result["rfm_from_orders_seconds"] = await timed(
                rescore_rfm(session, as_of=(NOW - timedelta(days=1)).date(), now=NOW)
            )
        async with sessions() as session:  # today: from the purchase facts the sync keeps
            _, result["rfm_end_to_end_seconds"] = await timed(
                rescore_rfm(session, as_of=NOW.date(), now=NOW)
            )
        async with sessions() as session:
            _, result["activity_refresh_seconds"] = await timed(
                refresh_activity(session, now=NOW, config=config.activity)
            )
        async with sessions() as session:
            _, result["ladder_refresh_seconds"] = await timed(
                refresh_ladder(session, now=NOW, config=config.ladder)
            )
        counts = []
        for _ in range(3):
            async with sessions() as session:
                found, seconds = await timed(count_matching(session, rule_text=COUNTED, now=NOW))
                counts.append(seconds)
        result |= {"count_rule": COUNTED, "count_matches": found, "count_seconds_best": min(counts),
                   "count_seconds_first": counts[0]}  # fmt: skip
        async with sessions() as session:
            for name, rule in SEGMENTS.items():
                await save_segment(session, name=name, rule_text=rule, now=NOW)
        result |= await _refreshes(sessions)
        return {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in result.items()
        }
    finally:
        await engine.dispose()


async def _refreshes(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    counted, counts_seconds = await timed(_counts(sessions))
    first, first_seconds = await timed(refresh_memberships(sessions, now=NOW))
    _, second_seconds = await timed(refresh_memberships(sessions, now=NOW))
    sizes = {outcome.segment: outcome.size for outcome in first}
    return {
        "counts_20_segments_seconds": counts_seconds,
        "refresh_20_segments_first_seconds": first_seconds,
        "refresh_20_segments_second_seconds": second_seconds,
        "refresh_first_ratio_to_counts": round(first_seconds / counts_seconds, 2),
        "refresh_second_ratio_to_counts": round(second_seconds / counts_seconds, 2),
        "members_after_refresh": sum(sizes.values()),
        "sizes_agree_with_counts": sizes == counted,
        "refresh_errors": [outcome.error for outcome in first if outcome.error],
    }


async def _counts(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """What the refresh cannot do with less: each saved segment's rule evaluated once."""
    counted = {}
    for name, rule in SEGMENTS.items():
        async with sessions() as session:
            counted[name] = await count_matching(session, rule_text=rule, now=NOW)
    return counted


def bare_rfm(orders: pd.DataFrame, rounds: int = 3) -> float:
    """The best of `rounds` runs of `rfm.score` on the orders as an in-memory frame: the
    fastest baseline is the strictest one to be compared with."""
    frame = orders[["customer_id", "ordered_at", "amount"]]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        score(frame, NOW.date())
        times.append(time.perf_counter() - started)
    return min(times)


async def on_postgres(url: str, work: Callable[[str], Awaitable[T]]) -> T | None:
    """`work` on a database made for the run; None (said on stderr) when unreachable."""
    try:
        async with temporary_postgres_database(url, prefix="segbot_bench") as fresh:
            return await work(fresh)
    except OSError as error:
        print(f"PostgreSQL unreachable: {error}", file=sys.stderr)
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--small", action="store_true", help="20,000 subscribers, 200,000 events and orders"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    options = parser.parse_args()
    sizes = (
        (20_000, 200_000, 200_000, 10_000)
        if options.small
        else (1_000_000, 10_000_000, 10_000_000, 500_000)
    )
    subscribers, events, orders, customers = sizes
    tables = generate(subscribers, events, orders, customers)
    pandas_seconds = bare_rfm(tables["orders"])
    results: dict[str, Any] = {
        "benchmark": "segments",
        "subscribers": subscribers,
        "events": events,
        "orders": orders,
        "customers": customers,
        "pandas_rfm_seconds": round(pandas_seconds, 3),
    }
    with tempfile.TemporaryDirectory(prefix="segbot-bench-") as work:
        path = Path(work) / "bench.db"
        runs: dict[str, dict[str, Any] | None] = {}
        runs["sqlite"] = asyncio.run(measure(f"sqlite+aiosqlite:///{path}", tables, path))
        runs["postgresql"] = asyncio.run(
            on_postgres(options.postgres_url, lambda url: measure(url, tables, None))
        )
    for database, run in runs.items():
        if run is not None:
            run["rfm_ratio_to_pandas"] = round(run["rfm_end_to_end_seconds"] / pandas_seconds, 2)
        results[database] = run
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
