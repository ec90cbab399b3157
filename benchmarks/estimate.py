"""Wall time of `betagen estimate` against the interpreter's own floor (`python -c pass`), same run.

Prints the median of several runs of each and their ratio. Usage: python benchmarks/estimate.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(command: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 11
    betagen = str(Path(sys.executable).with_name("betagen"))
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "betagen estimate (table)": [betagen, "estimate"],
        "betagen estimate --format json": [betagen, "estimate", "--format", "json"],
        "betagen estimate --format markdown": [betagen, "estimate", "--format", "markdown"],
    }
    median_seconds(cases["betagen estimate (table)"], 2)  # warm the file cache and bytecode
    results = {name: median_seconds(cmd, runs) for name, cmd in cases.items()}
    floor = results["python -c pass"]
    print(f"median of {runs} runs each")
    for name, seconds in results.items():
        print(f"  {name:38} {seconds * 1000:8.1f} ms   {seconds / floor:5.1f}x python -c pass")


if __name__ == "__main__":
    main()
