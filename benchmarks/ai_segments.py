"""AI segments benchmark: generating AI segments end to end on a large audience.

    python -m benchmarks.ai_segments           # 1,000,000 subscribers, 5,000,000 events,
                                               # 2,000,000 orders (250,000 customers)
    python -m benchmarks.ai_segments --small   # 20,000 / 100,000 / 40,000 (5,000)

Prints one JSON line. The data is the segments benchmark's (`benchmarks.segments`), loaded
into SQLite (a temporary file) and into PostgreSQL when reachable at --postgres-url; RFM
scores and ladder stages are computed first. Loading and scoring are not timed. Timed,
per database, in a fresh child process (so its memory is the generation's, not the
generated tables' the parent loads from): `generate_ai_segments` (features by SQL,
clustering, profiles, replacing the AI segments, refreshing their members), twice (the
second replaces the first); `build_features` alone; and the bare scikit-learn work on the
same in-memory matrix (choosing k by replication and fitting on the same sample, then
predicting everyone). Targets for 1,000,000 subscribers: a generation under 120 s, a peak
resident set under 2 GB (`peak_rss_mb`, the child's whole run; `peak_rss_mb_generating`,
sampled during the first generation), the features within 8x of the scikit-learn step
(`features_to_sklearn_ratio`).
"""

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import make_url

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


def peak_rss_so_far() -> float:
    """This process's peak resident set in MB, VmHWM. Not getrusage's ru_maxrss: Linux
    carries into it the pages a spawned child had before its exec, the parent's."""
    lines = Path("/proc/self/status").read_text().splitlines()
    kilobytes = next(int(line.split()[1]) for line in lines if line.startswith("VmHWM:"))
    return kilobytes / 1024


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


async def prepare(url: str, tables: dict[str, pd.DataFrame], sqlite_path: Path | None) -> float:
    """Load `tables` into the database at `url`, then score RFM and the ladder; seconds
    the load took."""
    engine = create_engine(url)
    try:
        await migrations.upgrade(engine)
        loaded = await load(engine, tables, sqlite_path)
        await keep_purchase_sums(engine)
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            await rescore_rfm(session, as_of=NOW.date(), now=NOW)
        async with sessions() as session:
            await refresh_ladder(session, now=NOW, config=load_segments_config({}).ladder)
        return loaded
    finally:
        await engine.dispose()


async def measure(url: str) -> dict[str, Any]:
    """The timed part, on the prepared database at `url`."""
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    result: dict[str, Any] = {}
    try:
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
    finally:
        await engine.dispose()
    peak_mb = peak_rss_so_far()
    features_ratio = result["features_seconds"] / result["bare_sklearn_seconds"]
    return result | {
        "peak_rss_mb": round(peak_mb),
        "features_to_sklearn_ratio": features_ratio,
        "k": first.k,
        "segments": [[p.name, p.size] for p in first.profiles],
        "replaced_on_regeneration": len(second.removed),
        "ratio_to_bare_sklearn": result["generate_seconds"] / result["bare_sklearn_seconds"],
        "within_2_minutes": result["generate_seconds"] < 120,
        "peak_rss_under_2gb": peak_mb < 2048,
        "features_within_8x_of_sklearn": features_ratio <= 8,
    }


def measure_alone(url: str) -> dict[str, Any]:
    """`measure` in this (fresh) process: its peak resident set is the generation's own,
    without the generated tables the parent holds to load the databases."""
    result = asyncio.run(measure(url))
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}


async def run(
    url: str, tables: dict[str, pd.DataFrame], sqlite_path: Path | None
) -> dict[str, Any]:
    """Prepare the database at `url`, then measure it in a child process."""
    loaded = await prepare(url, tables, sqlite_path)
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as child:
        measured = await asyncio.get_running_loop().run_in_executor(child, measure_alone, url)
    result = {"load_seconds": round(loaded, 1), **measured}
    print(f"{make_url(url).get_backend_name()}: {json.dumps(result)}", file=sys.stderr)
    return result


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
        results["sqlite"] = asyncio.run(run(f"sqlite+aiosqlite:///{path}", tables, path))
        results["postgresql"] = asyncio.run(
            on_postgres(options.postgres_url, lambda url: run(url, tables, None))
        )
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
