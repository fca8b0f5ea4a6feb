"""CRM import benchmark: 1,000,000 orders for 200,000 customers from CSV, into SQLite and
into PostgreSQL, against the time pandas alone takes to parse the same files.

    python benchmarks/crm_import.py            # full size
    python benchmarks/crm_import.py --small    # 50,000 orders for 10,000 customers

Prints one JSON line. Each phase runs in its own process, so its peak memory (max RSS)
is its own. PostgreSQL is used when reachable at --postgres-url: the import goes into a
fresh database created for the run and dropped after it.
Target: the whole import within 4x of the bare pandas parse, peak memory under 1 GB.
Also timed, as a floor: the same parse followed by the fastest bulk load each database
takes of the rows as they are (`bare_load_seconds`, `ratio_to_bare_load`).
"""

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
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
USES = ("import", "bare")
STATUSES = np.array(["completed", "completed", "completed", "shipped", "refunded", "cancelled"])


def generate(directory: Path, *, orders: int, customers: int, seed: int = 4) -> tuple[Path, Path]:
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
    customers_csv, orders_csv = directory / "customers.csv", directory / "orders.csv"
    people.to_csv(customers_csv, index=False)
    sales.to_csv(orders_csv, index=False)
    return customers_csv, orders_csv


def parse_phase(customers_csv: Path, orders_csv: Path) -> dict[str, float]:
    started = time.perf_counter()
    rows = len(pd.read_csv(customers_csv)) + len(pd.read_csv(orders_csv))
    return {"seconds": time.perf_counter() - started, "rows": rows}


async def import_phase(url: str, customers_csv: Path, orders_csv: Path) -> dict[str, float]:
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        connector = FilesConnector(
            name="bench",
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
        raise SystemExit(f"import failed: {summary.error}")
    return {
        "seconds": seconds,
        "inserted": summary.total("inserted"),
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
                "source": "bench",
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
                "source": "bench",
                "external_id": sales["order_id"],
                "customer_id": ids.loc[sales["customer_id"]].to_numpy(),
                "ordered_at": pd.to_datetime(sales["ordered_at"], utc=True),
                "amount": sales["amount"],
                "currency": sales["currency"],
                "status": sales["status"],
                "quantity": sales["quantity"],
                "counts_as_purchase": ~sales["status"].isin(["refunded", "cancelled"]),
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


async def postgres_database(url: str, *, create: bool, name: str) -> bool:
    server = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with asyncio.timeout(5), server.connect() as connection:
            if create:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except (OSError, TimeoutError) as error:
        print(f"PostgreSQL unreachable: {error}", file=sys.stderr)
        return False
    finally:
        await server.dispose()
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="50,000 orders, 10,000 customers")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.phase:
        kind, *paths = options.phase
        if kind == "parse":
            result = parse_phase(Path(paths[0]), Path(paths[1]))
        elif kind == "bare":
            result = asyncio.run(bare_load_phase(paths[2], Path(paths[0]), Path(paths[1])))
        else:
            result = asyncio.run(import_phase(paths[2], Path(paths[0]), Path(paths[1])))
        print(json.dumps({**result, "peak_mb": round(peak_memory_kb() / 1024, 1)}))
        return

    orders, customers = (50_000, 10_000) if options.small else (1_000_000, 200_000)
    with tempfile.TemporaryDirectory(prefix="segbot-bench-") as work:
        directory = Path(work)
        customers_csv, orders_csv = generate(directory, orders=orders, customers=customers)
        files = [str(customers_csv), str(orders_csv)]
        parse = run_phase(["parse", *files])
        # Per database: where the import goes and where the bare load goes, both empty.
        targets = {
            "sqlite": tuple(f"sqlite+aiosqlite:///{directory / f'{use}.db'}" for use in USES)
        }
        names = [f"segbot_bench_{uuid.uuid4().hex[:10]}" for _ in USES]
        created = [
            name
            for name in names
            if asyncio.run(postgres_database(options.postgres_url, create=True, name=name))
        ]
        postgres = created == names
        if postgres:
            server = make_url(options.postgres_url)
            targets["postgresql"] = tuple(
                server.set(database=name).render_as_string(False) for name in names
            )
        results: dict[str, object] = {
            "benchmark": "crm_import",
            "orders": orders,
            "customers": customers,
            "pandas_parse_seconds": round(parse["seconds"], 3),
            "pandas_parse_peak_mb": parse["peak_mb"],
        }
        try:
            for database, (import_url, bare_url) in targets.items():
                phase = run_phase(["import", *files, import_url])
                bare = run_phase(["bare", *files, bare_url])
                rows = orders + customers
                results[database] = {
                    "seconds": round(phase["seconds"], 3),
                    "rows_per_second": round(rows / phase["seconds"]),
                    "peak_mb": phase["peak_mb"],
                    "ratio_to_pandas_parse": round(phase["seconds"] / parse["seconds"], 2),
                    "rows_inserted": phase["inserted"],
                    "rows_rejected": phase["rejected"],
                    "bare_load_seconds": round(bare["seconds"], 3),
                    "ratio_to_bare_load": round(phase["seconds"] / bare["seconds"], 2),
                }
        finally:
            for name in created:
                asyncio.run(postgres_database(options.postgres_url, create=False, name=name))
        if not postgres:
            results["postgresql"] = None
        print(json.dumps(results))


if __name__ == "__main__":
    main()
