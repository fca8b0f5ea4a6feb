"""CRM import benchmark: 1,000,000 orders for 200,000 customers from CSV, into SQLite and
into PostgreSQL, against the time pandas alone takes to parse the same files.

    python benchmarks/crm_import.py            # full size
    python benchmarks/crm_import.py --small    # 50,000 orders for 10,000 customers

Prints one JSON line. Each phase runs in its own process, so its peak memory (max RSS)
is its own. PostgreSQL is used when reachable at --postgres-url: the import goes into a
fresh database created for the run and dropped after it.
Target: the whole import within 4x of the bare pandas parse, peak memory under 1 GB.
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
from core.db import create_engine, create_sessionmaker  # noqa: E402
from crm_sync.config import RecordRules  # noqa: E402
from crm_sync.connectors.files import FilesConnector  # noqa: E402
from crm_sync.worker import run_sync  # noqa: E402

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
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
        targets = {"sqlite": f"sqlite+aiosqlite:///{directory / 'bench.db'}"}
        name = f"segbot_bench_{uuid.uuid4().hex[:10]}"
        postgres = asyncio.run(postgres_database(options.postgres_url, create=True, name=name))
        if postgres:
            targets["postgresql"] = (
                make_url(options.postgres_url).set(database=name).render_as_string(False)
            )
        results: dict[str, object] = {
            "benchmark": "crm_import",
            "orders": orders,
            "customers": customers,
            "pandas_parse_seconds": round(parse["seconds"], 3),
            "pandas_parse_peak_mb": parse["peak_mb"],
        }
        try:
            for database, url in targets.items():
                phase = run_phase(["import", *files, url])
                rows = orders + customers
                results[database] = {
                    "seconds": round(phase["seconds"], 3),
                    "rows_per_second": round(rows / phase["seconds"]),
                    "peak_mb": phase["peak_mb"],
                    "ratio_to_pandas_parse": round(phase["seconds"] / parse["seconds"], 2),
                    "rows_inserted": phase["inserted"],
                    "rows_rejected": phase["rejected"],
                }
        finally:
            if postgres:
                asyncio.run(postgres_database(options.postgres_url, create=False, name=name))
        if not postgres:
            results["postgresql"] = None
        print(json.dumps(results))


if __name__ == "__main__":
    main()
