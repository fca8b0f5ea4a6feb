"""AI segments benchmark: generating AI segments end to end on a large audience.

    python -m benchmarks.ai_segments           # 1,000,000 subscribers, 5,000,000 events,
                                               # 2,000,000 orders (250,000 customers)
    python -m benchmarks.ai_segments --small   # 20,000 / 100,000 / 40,000 (5,000)

Prints one JSON line. The data is the segments benchmark's (`benchmarks.segments`), loaded
into SQLite (a temporary file) and into PostgreSQL when reachable at --postgres-url; RFM
scores and ladder stages are computed first. Loading and scoring are not timed. Timed,
per database: `generate_ai_segments` (features by SQL, clustering, profiles, replacing
the AI segments, refreshing their members), twice (the second replaces the first), and
in the same run the bare scikit-learn work on the same in-memory matrix (choosing k by
replication and fitting on the same sample, then predicting everyone). Target: under 120 s for
1,000,000 subscribers. Peak memory is the process's resident set while generating.
"""

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import migrations
from benchmarks.segments import NOW, generate, keep_purchase_sums, load, on_postgres
from core.db import create_engine, create_sessionmaker
from segments.ai.clusters import fit_sample, sample_rows
from segments.ai.config import AiConfig
from segments.ai.encoding import Encoder
from segments.ai.features import build_features
from segments.ai.generate import generate_ai_segments
from segments.config import load_segments_config
from segments.ladder import refresh_ladder
from segments.rfm.store import rescore_rfm

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CONFIG = AiConfig(k_min=3, k_max=8)
PAGE = 4096


@contextmanager
def peak_rss() -> Iterator[list[float]]:
    """Samples the resident set every 50 ms; yields a list holding the peak in MB."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            pages = int(Path("/proc/self/statm").read_text().split()[1])
            peak[0] = max(peak[0], pages * PAGE / 2**20)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        yield peak
    finally:
        done.set()
        watcher.join()


def bare_sklearn(frame: pd.DataFrame, features: Any) -> float:
    """The same scikit-learn work as a generation, on an in-memory matrix: seconds."""
    sample = frame.iloc[sample_rows(len(frame), CONFIG.sample_size, CONFIG.seed)]
    encoder = Encoder(features, sample)
    everyone = np.concatenate([chunk for _, chunk in encoder.chunks(frame)])
    points = encoder.transform(sample)
    started = time.perf_counter()
    _, model = fit_sample(points, range(CONFIG.k_min, CONFIG.k_max + 1), CONFIG.seed)
    model.predict(everyone)
    return time.perf_counter() - started


async def measure(
    url: str, tables: dict[str, pd.DataFrame], sqlite_path: Path | None
) -> dict[str, Any]:
    engine = create_engine(url)
    segments = load_segments_config({})
    try:
        await migrations.upgrade(engine)
        result: dict[str, Any] = {"load_seconds": round(await load(engine, tables, sqlite_path), 1)}
        await keep_purchase_sums(engine)
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            await rescore_rfm(session, as_of=NOW.date(), now=NOW)
        async with sessions() as session:
            await refresh_ladder(session, now=NOW, config=segments.ladder)
        with peak_rss() as peak:
            started = time.perf_counter()
            first = await generate_ai_segments(sessions, now=NOW, config=CONFIG)
            result["generate_seconds"] = time.perf_counter() - started
        result["peak_rss_mb_generating"] = round(peak[0])
        started = time.perf_counter()
        second = await generate_ai_segments(sessions, now=NOW, config=CONFIG)
        result["regenerate_seconds"] = time.perf_counter() - started
        async with sessions() as session:
            started = time.perf_counter()
            features = await build_features(session, now=NOW, window_days=CONFIG.window_days)
            result["features_seconds"] = time.perf_counter() - started
        result["bare_sklearn_seconds"] = bare_sklearn(features.frame, features)
        result |= {
            "k": first.k,
            "segments": [[p.name, p.size] for p in first.profiles],
            "replaced_on_regeneration": len(second.removed),
            "ratio_to_bare_sklearn": result["generate_seconds"] / result["bare_sklearn_seconds"],
            "within_2_minutes": result["generate_seconds"] < 120,
        }
        rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
        print(f"{engine.dialect.name}: {json.dumps(rounded)}", file=sys.stderr)  # progress
        return rounded
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="20,000 subscribers")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    options = parser.parse_args()
    sizes = (20_000, 100_000, 40_000, 5_000) if options.small else (
        1_000_000, 5_000_000, 2_000_000, 250_000
    )  # fmt: skip
    subscribers, events, orders, customers = sizes
    tables = generate(subscribers, events, orders, customers)
    results: dict[str, Any] = {
        "benchmark": "ai_segments", "subscribers": subscribers, "events": events,
        "orders": orders, "customers": customers,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="segbot-bench-") as work:
        path = Path(work) / "bench.db"
        results["sqlite"] = asyncio.run(measure(f"sqlite+aiosqlite:///{path}", tables, path))
        results["postgresql"] = asyncio.run(
            on_postgres(options.postgres_url, lambda url: measure(url, tables, None))
        )
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
