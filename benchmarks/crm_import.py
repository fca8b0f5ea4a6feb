"""CRM import benchmark: 1,000,000 orders for 200,000 customers from CSV, then an
incremental sync of 10,000 of those orders changed, into SQLite and into PostgreSQL.

    python benchmarks/crm_import.py            # full size
    python benchmarks/crm_import.py --small    # 50,000 orders for 10,000 customers, 500 changed
    python benchmarks/crm_import.py --customers 20000   # the same orders, 50 per customer

Prints one JSON line; per database, three figures and their targets (issue 26):
- the whole import (`seconds`) against the bare load (`bare_load_seconds`): the same
  pandas parse and the fastest bulk load each database takes of the rows as they are,
  indexes built after (`benchmarks.segments.load`: COPY or one executemany, no foreign key
  checks). Target: `ratio_to_bare_load` within 1.5;
- the incremental sync of the changed orders into the database the import filled
  (`sync_seconds`) against a bare upsert of the same rows into the one the bare load
  filled (`bare_upsert_seconds`): the same parse, then one INSERT ... ON CONFLICT DO
  UPDATE of every row. Target: `ratio_to_bare_upsert` within 2. Beside it, what a sync
  that keeps the purchase facts right by recomputing them adds to that floor: the touched
  customers' facts recomputed from their orders in one UPDATE (`bare_facts_seconds`), the
  least such a sync can take against the target's baseline (`floor_ratio_to_bare_upsert`:
  the two together over the bare upsert), and the sync's ratio to the two together
  (`ratio_to_bare_upsert_and_facts`). segbot's sync moves the facts by the changes
  instead, recomputing only customers who lose their first or last purchase, so it can
  go below that floor; the more orders per customer, the further (`--customers`);
- the import's peak memory (`peak_mb`, its process's resident set). Target: under 1 GB.
`met` says which targets this run met. Also printed: the bare pandas parse of the files.

Each phase runs in its own process, so its peak memory is its own. The four phases run
ROUNDS times in turn, each round into fresh databases, and each phase's best run counts
(the machine is noisy; the peaks are the highest of the rounds). PostgreSQL is used when
reachable at --postgres-url: each round's databases are created for it and dropped
after it.
"""

import argparse
import asyncio
import io
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import migrations  # noqa: E402
from benchmarks.segments import load  # noqa: E402
from core.db import create_engine, create_sessionmaker  # noqa: E402
from crm_sync.config import RecordRules  # noqa: E402
from crm_sync.connectors.files import FilesConnector  # noqa: E402
from crm_sync.worker import run_sync  # noqa: E402

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SOURCE = "bench"
USES = ("import", "bare")
STATUSES = np.array(["completed", "completed", "completed", "shipped", "refunded", "cancelled"])
NOT_PURCHASES = ["refunded", "cancelled"]
TARGETS = {"ratio_to_bare_load": 1.5, "ratio_to_bare_upsert": 2.0, "peak_mb": 1024}
ROUNDS = 2
# A round's runs of the four phases, by phase: each run's figures.
Round = dict[str, dict[str, float]]
# What the bare upsert writes of an order besides its key, and updates when it is stored.
ORDER_COLUMNS = (
    "customer_id",
    "ordered_at",
    "amount",
    "currency",
    "status",
    "quantity",
    "counts_as_purchase",
    "updated_at",
)


def generate(
    directory: Path, *, orders: int, customers: int, changed: int, seed: int = 4
) -> tuple[Path, Path, Path]:
    """The customers' and the orders' files, and a file of `changed` of those orders with
    a new status and amount (an export of what changed since the import)."""
    random = np.random.default_rng(seed)
    ids = np.arange(1, customers + 1)
    people = pd.DataFrame(
        {
            "customer_id": np.char.add("C", ids.astype(str)),
            "name": np.char.add("Customer ", ids.astype(str)),
            "phone": np.char.add("+3461", (1_000_000 + ids).astype(str)),
            "email": np.char.add(np.char.add("c", ids.astype(str)), "@example.com"),
        }
    )
    start = np.datetime64("2022-01-01T00:00:00")
    seconds = random.integers(0, 3 * 365 * 86_400, size=orders)
    sales = pd.DataFrame(
        {
            "order_id": np.char.add("O", np.arange(1, orders + 1).astype(str)),
            "customer_id": np.char.add("C", random.integers(1, customers + 1, orders).astype(str)),
            "ordered_at": pd.to_datetime(start + seconds.astype("timedelta64[s]")).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "amount": np.round(random.gamma(2.0, 40.0, orders), 2),
            "currency": "EUR",
            "status": STATUSES[random.integers(0, len(STATUSES), orders)],
            "quantity": random.integers(1, 5, orders),
        }
    )
    changes = sales.iloc[np.sort(random.choice(orders, size=changed, replace=False))].copy()
    changes["status"] = np.where(changes["status"] == "refunded", "completed", "refunded")
    changes["amount"] = (changes["amount"] + 1).round(2)
    paths = directory / "customers.csv", directory / "orders.csv", directory / "changes.csv"
    for frame, path in zip((people, sales, changes), paths, strict=True):
        frame.to_csv(path, index=False)
    return paths


def parse_phase(customers_csv: Path, orders_csv: Path) -> dict[str, float]:
    started = time.perf_counter()
    rows = len(pd.read_csv(customers_csv)) + len(pd.read_csv(orders_csv))
    return {"seconds": time.perf_counter() - started, "rows": rows}


async def sync_phase(url: str, customers_csv: Path | None, orders_csv: Path) -> dict[str, float]:
    """One run of the files connector (`customers_csv` None: orders only), timed."""
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        connector = FilesConnector(
            name=SOURCE,
            customers=customers_csv,
            orders=orders_csv,
            rules=RecordRules(default_region="ES"),
        )
        started = time.perf_counter()
        summary = await run_sync(
            sessionmaker=create_sessionmaker(engine), connector=connector, trigger="import"
        )
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    if summary.status != "succeeded":
        raise SystemExit(f"sync failed: {summary.error}")
    return {
        "seconds": seconds,
        "inserted": summary.total("inserted"),
        "updated": summary.total("updated"),
        "rejected": summary.total("rejected"),
    }


async def bare_load_phase(url: str, customers_csv: Path, orders_csv: Path) -> dict[str, float]:
    """The floor under any import: parse both files with pandas and bulk-load the rows as
    they are into the same migrated tables, the fastest way the database takes them
    (`benchmarks.segments.load`: COPY or one executemany, indexes built after, no foreign
    key checks); no validation, upsert, purchase facts or matching."""
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        started = time.perf_counter()
        people, sales = pd.read_csv(customers_csv), pd.read_csv(orders_csv)
        now = pd.Timestamp.now(tz="UTC")
        ids = pd.Series(np.arange(1, len(people) + 1), index=people["customer_id"])
        customers = pd.DataFrame(
            {
                "id": ids.to_numpy(),
                "source": SOURCE,
                "external_id": people["customer_id"],
                "name": people["name"],
                "phone": people["phone"],
                "email": people["email"],
                "attributes": "{}",
                "created_at": now,
                "updated_at": now,
            }
        )
        orders = pd.DataFrame(
            {
                "source": SOURCE,
                "external_id": sales["order_id"],
                "customer_id": ids.loc[sales["customer_id"]].to_numpy(),
                "ordered_at": pd.to_datetime(sales["ordered_at"], utc=True),
                "amount": sales["amount"],
                "currency": sales["currency"],
                "status": sales["status"],
                "quantity": sales["quantity"],
                "counts_as_purchase": ~sales["status"].isin(NOT_PURCHASES),
                "created_at": now,
                "updated_at": now,
            }
        )
        sqlite_path = Path(make_url(url).database or "") if url.startswith("sqlite") else None
        await load(engine, {"customers": customers, "orders": orders}, sqlite_path)
        seconds = time.perf_counter() - started
    finally:
        await engine.dispose()
    return {"seconds": seconds, "rows": len(customers) + len(orders)}


async def bare_upsert_phase(url: str, changes_csv: Path) -> dict[str, float]:
    """The floor under an incremental sync: parse the changed orders with pandas and
    upsert them as they are, each order finding its customer by a join, with one
    INSERT ... ON CONFLICT DO UPDATE (on PostgreSQL from a table the rows are copied
    into); no validation, counting, purchase facts or matching. Then, timed on its own
    (`facts_seconds`), the touched customers' purchase facts recomputed (`_FACTS`)."""
    started = time.perf_counter()
    sales = pd.read_csv(changes_csv)
    moments = pd.to_datetime(sales["ordered_at"], utc=True).dt.tz_localize(None)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = pd.DataFrame(
        {
            "external_id": sales["order_id"],
            "customer_external_id": sales["customer_id"],
            "ordered_at": moments,
            "amount": sales["amount"],
            "currency": sales["currency"],
            "status": sales["status"],
            "quantity": sales["quantity"],
            "counts_as_purchase": ~sales["status"].isin(NOT_PURCHASES),
            "updated_at": now,
        }
    )
    if url.startswith("sqlite"):
        path = Path(make_url(url).database or "")
        times = await asyncio.to_thread(_upsert_sqlite, path, rows, started)
    else:
        times = await _upsert_postgres(url, rows, started)
    return {**times, "rows": len(rows)}


def _upsert(rows: str) -> str:
    """INSERT the orders `rows` selects (every one of ORDER_COLUMNS, in order); a stored
    order takes them all."""
    updates = ", ".join(f"{name} = excluded.{name}" for name in ORDER_COLUMNS[1:])
    return (
        f"INSERT INTO orders (source, external_id, created_at, {', '.join(ORDER_COLUMNS)}) "
        f"{rows} ON CONFLICT (source, external_id) DO UPDATE SET {updates}"
    )


# The purchase facts of the customers named in `touched` recomputed from their orders in one
# UPDATE, those left without a purchase getting none: what crm_sync.facts computes, bare.
_FACTS = f"""
UPDATE customers SET orders_count = t.orders, total_spent = t.spent,
    average_order_value = CASE WHEN t.orders > 0 THEN round(t.spent / t.orders, 2) END,
    first_order_at = t.first_at, last_order_at = t.last_at
FROM (
    SELECT k.id AS customer_id, count(o.id) AS orders, coalesce(sum(o.amount), 0) AS spent,
        min(o.ordered_at) AS first_at, max(o.ordered_at) AS last_at
    FROM (
        SELECT DISTINCT c.id FROM touched
        JOIN customers c ON c.source = '{SOURCE}' AND c.external_id = touched.external_id
    ) AS k
    LEFT JOIN orders o ON o.customer_id = k.id AND o.counts_as_purchase AND o.amount > 0
    GROUP BY k.id
) AS t
WHERE customers.id = t.customer_id
"""  # noqa: S608  (constants)


def _upsert_sqlite(path: Path, rows: pd.DataFrame, started: float) -> dict[str, float]:
    """One executemany of the upsert, each row's customer found by a subquery; then the
    facts. The seconds of each, the first counted from `started`."""
    values = rows.astype(object).where(rows.notna(), None)
    for name in ("ordered_at", "updated_at"):  # as SQLAlchemy stores a time on SQLite
        values[name] = rows[name].dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    marks = ", ".join("?" for _ in ORDER_COLUMNS[1:])
    statement = _upsert(
        f"SELECT '{SOURCE}', ?, ?, id, {marks} FROM customers "  # noqa: S608  (constants)
        f"WHERE source = '{SOURCE}' AND external_id = ?"
    )
    order = ["external_id", "updated_at", *ORDER_COLUMNS[1:], "customer_external_id"]
    connection = sqlite3.connect(path)
    try:
        connection.executemany(statement, values[order].itertuples(index=False, name=None))
        connection.commit()
        upserted = time.perf_counter()
        connection.execute("CREATE TEMPORARY TABLE touched (external_id text)")
        named = rows["customer_external_id"].drop_duplicates()
        connection.executemany("INSERT INTO touched VALUES (?)", ((name,) for name in named))
        connection.execute(_FACTS)
        connection.commit()
    finally:
        connection.close()
    return {"seconds": upserted - started, "facts_seconds": time.perf_counter() - upserted}


async def _upsert_postgres(url: str, rows: pd.DataFrame, started: float) -> dict[str, float]:
    """COPY the rows into a temporary table, then one upsert from it; then the facts. The
    seconds of each, the first counted from `started`."""
    picked = ", ".join(f"s.{name}" for name in ORDER_COLUMNS[1:])
    statement = _upsert(
        f"SELECT '{SOURCE}', s.external_id, s.updated_at, c.id, {picked} FROM staged s "  # noqa: S608
        f"JOIN customers c ON c.source = '{SOURCE}' AND c.external_id = s.customer_external_id"
    )
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None  # noqa: S101
            await raw.execute("SET TIME ZONE 'UTC'")  # the staged times are UTC
            await raw.execute(
                "CREATE TEMPORARY TABLE staged (external_id text, customer_external_id text, "
                "ordered_at timestamptz, amount numeric, currency text, status text, "
                "quantity integer, counts_as_purchase boolean, updated_at timestamptz)"
            )
            csv = rows.to_csv(index=False, header=False).encode()
            await raw.copy_to_table(
                "staged", source=io.BytesIO(csv), columns=list(rows.columns), format="csv"
            )
            await raw.execute(statement)
            upserted = time.perf_counter()
            await raw.execute(
                "CREATE TEMPORARY TABLE touched AS "
                "SELECT DISTINCT customer_external_id AS external_id FROM staged"
            )
            await raw.execute(_FACTS)
            facts = time.perf_counter() - upserted
    finally:
        await engine.dispose()
    return {"seconds": upserted - started, "facts_seconds": facts}


def peak_memory_kb() -> int:
    """This process's peak resident memory since it started its program. Not ru_maxrss:
    Linux carries that over from the parent through fork and exec, so every phase would
    report at least the parent's peak (the generated data)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # not Linux: the best there is


def run_phase(arguments: list[str]) -> dict[str, float]:
    """Run one phase in a child process; its result with that process's peak memory."""
    output = subprocess.run(  # noqa: S603  (this very script)
        [sys.executable, __file__, "--phase", *arguments],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def phase(kind: str, paths: list[str]) -> dict[str, float]:
    """The phase `kind` of a child process, on `paths` (files, then a database URL)."""
    if kind == "parse":
        return parse_phase(Path(paths[0]), Path(paths[1]))
    if kind == "import":
        return asyncio.run(sync_phase(paths[2], Path(paths[0]), Path(paths[1])))
    if kind == "bare":
        return asyncio.run(bare_load_phase(paths[2], Path(paths[0]), Path(paths[1])))
    if kind == "sync":
        return asyncio.run(sync_phase(paths[1], None, Path(paths[0])))
    return asyncio.run(bare_upsert_phase(paths[1], Path(paths[0])))


async def on_server(url: str, statement: str) -> bool:
    """Run `statement` on the PostgreSQL server at `url`, outside any transaction (as
    CREATE and DROP DATABASE must); whether the server was reachable."""
    server = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with asyncio.timeout(5), server.connect() as connection:
            await connection.execute(text(statement))
    except (OSError, TimeoutError) as error:
        print(f"PostgreSQL unreachable: {error}", file=sys.stderr)
        return False
    finally:
        await server.dispose()
    return True


@contextmanager
def empty_databases(database: str, work: Path, postgres_url: str) -> Iterator[tuple[str, str]]:
    """Where a round's import and bare load go, both empty: SQLite files in `work`, or
    PostgreSQL databases on the server at `postgres_url`; gone after the round."""
    names = [f"segbot_bench_{uuid.uuid4().hex[:10]}" for _ in USES]
    if database == "sqlite":
        try:
            yield (
                f"sqlite+aiosqlite:///{work / names[0]}.db",
                f"sqlite+aiosqlite:///{work / names[1]}.db",
            )
        finally:
            for file in work.glob("segbot_bench_*.db*"):
                file.unlink()
        return
    created = []
    try:
        for name in names:
            if not asyncio.run(on_server(postgres_url, f'CREATE DATABASE "{name}"')):
                raise SystemExit("PostgreSQL went away during the benchmark")
            created.append(name)
        server = make_url(postgres_url)
        import_url, bare_url = (server.set(database=name).render_as_string(False) for name in names)
        yield import_url, bare_url
    finally:
        for name in created:
            asyncio.run(on_server(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def measure_round(files: list[str], changes: str, import_url: str, bare_url: str) -> Round:
    """The import and the bare load into empty databases, then the sync and the bare
    upsert of the changes into what each loaded."""
    return {
        "import": run_phase(["import", *files, import_url]),
        "bare": run_phase(["bare", *files, bare_url]),
        "sync": run_phase(["sync", changes, import_url]),
        "upsert": run_phase(["upsert", changes, bare_url]),
    }


def figures(rounds: list[Round]) -> dict[str, object]:
    """Each phase's best run of `rounds` (with the highest peak of them), and the ratios
    of the bests."""
    imported, bare, synced, upserted = (
        min((taken[phase] for taken in rounds), key=lambda run: run["seconds"])
        for phase in ("import", "bare", "sync", "upsert")
    )
    facts = min(taken["upsert"]["facts_seconds"] for taken in rounds)
    rows = imported["inserted"] + imported["rejected"]
    results = {
        "seconds": round(imported["seconds"], 3),
        "rows_per_second": round(rows / imported["seconds"]),
        "peak_mb": max(taken["import"]["peak_mb"] for taken in rounds),
        "rows_inserted": imported["inserted"],
        "rows_rejected": imported["rejected"],
        "bare_load_seconds": round(bare["seconds"], 3),
        "ratio_to_bare_load": round(imported["seconds"] / bare["seconds"], 2),
        "sync_seconds": round(synced["seconds"], 3),
        "sync_rows_updated": synced["updated"],
        "sync_peak_mb": max(taken["sync"]["peak_mb"] for taken in rounds),
        "bare_upsert_seconds": round(upserted["seconds"], 3),
        "ratio_to_bare_upsert": round(synced["seconds"] / upserted["seconds"], 2),
        "bare_facts_seconds": round(facts, 3),
        "floor_ratio_to_bare_upsert": round((upserted["seconds"] + facts) / upserted["seconds"], 2),
        "ratio_to_bare_upsert_and_facts": round(
            synced["seconds"] / (upserted["seconds"] + facts), 2
        ),
        "rounds": len(rounds),
    }
    met = {name: results[name] <= limit for name, limit in TARGETS.items()}
    return {**results, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="50,000 orders, 10,000 customers")
    parser.add_argument(
        "--customers", type=int, help="spread the orders over this many customers instead"
    )
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.phase:
        kind, *paths = options.phase
        result = phase(kind, paths)
        print(json.dumps({**result, "peak_mb": round(peak_memory_kb() / 1024, 1)}))
        return

    orders, customers = (50_000, 10_000) if options.small else (1_000_000, 200_000)
    customers = options.customers or customers
    changed = orders // 100
    with tempfile.TemporaryDirectory(prefix="segbot-bench-") as work:
        directory = Path(work)
        *paths, changes = generate(directory, orders=orders, customers=customers, changed=changed)
        files = [str(path) for path in paths]
        parse = run_phase(["parse", *files])
        postgres = asyncio.run(on_server(options.postgres_url, "SELECT 1"))
        results: dict[str, object] = {
            "benchmark": "crm_import",
            "orders": orders,
            "customers": customers,
            "changed_orders": changed,
            "targets": TARGETS,
            "pandas_parse_seconds": round(parse["seconds"], 3),
            "pandas_parse_peak_mb": parse["peak_mb"],
            "postgresql": None,
        }
        for database in ("sqlite", "postgresql") if postgres else ("sqlite",):
            rounds = []
            for _ in range(ROUNDS):
                with empty_databases(database, directory, options.postgres_url) as (into, bare):
                    rounds.append(measure_round(files, str(changes), into, bare))
            results[database] = figures(rounds)
        print(json.dumps(results))


if __name__ == "__main__":
    main()
