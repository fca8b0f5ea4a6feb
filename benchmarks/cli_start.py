"""How long `segbot --help` and `segbot version` take to answer, against starting Python.

Each command runs as a user runs it, the console script in a process of its own, ROUNDS
times, interleaved with `python -c pass` (the floor: the interpreter starting) so a busy
moment of the machine hits all three alike; the median of each counts. Prints one JSON
line: the medians in seconds and each command's ratio to the floor.

    python -m benchmarks.cli_start [--rounds 9]   (from the repo root)

Target (issue 22): no command takes seconds to start; `--help` and `version` import none
of pandas, SQLAlchemy, aiogram, Alembic, openpyxl, matplotlib (tests/cli/test_app.py).
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUNDS = 9
SEGBOT = str(Path(sys.executable).parent / "segbot")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "segbot --help": [SEGBOT, "--help"],
    "segbot version": [SEGBOT, "version"],
}


def wall_time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, timeout=120)  # noqa: S603
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, command in COMMANDS.items():
            times[name].append(wall_time(command))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    floor = medians["python -c pass"]
    print(
        json.dumps(
            {
                "benchmark": "cli_start",
                "rounds": args.rounds,
                "median_seconds": {name: round(value, 4) for name, value in medians.items()},
                "ratio_to_python": {
                    name: round(value / floor, 2)
                    for name, value in medians.items()
                    if name != "python -c pass"
                },
            }
        )
    )


if __name__ == "__main__":
    main()
