"""Wall time of rendering the reference beta, against copier's own floor, measured in the same run.

- floor: `copier copy` of a one-file template (what copier costs before any template work), served as a
  plain folder and as a git repository: copier clones any template whose folder is a git repository, and
  ours must be one, since `copier update` works from its tagged versions
- `betagen new DEST --defaults` (validates and prices, then renders through copier's API), with its cache
  of compiled templates warm (every run after the first) and cold (an empty cache folder each run)
- `copier copy --trust --defaults` of this template

The cases run in turns (one of each per round), so a slow spell of a shared machine slows all of them
alike. Prints the median of each and the ratios to the floor. Usage: python benchmarks/render.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def timed(command: list[str], dest: Path, env: dict[str, str]) -> float:
    shutil.rmtree(dest, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - start
    shutil.rmtree(dest, ignore_errors=True)
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        one_file = work / "one-file-template"
        one_file.mkdir()
        (one_file / "copier.yml").write_text("name:\n  type: str\n  default: world\n")
        (one_file / "README.md.jinja").write_text("Hello {{ name }}\n")
        one_file_git = work / "one-file-git"
        shutil.copytree(one_file, one_file_git)
        git = ["git", "-C", str(one_file_git), "-c", "user.name=b", "-c", "user.email=b@example.com"]
        subprocess.run([*git, "init", "-q"], check=True)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", "one file"], check=True)
        dest = work / "out"
        copier = [str(BIN / "copier"), "copy", "-q", "--defaults"]
        betagen_new = [str(BIN / "betagen"), "new", str(dest), "--defaults"]
        cases = {  # name: (command, whether betagen's cache of compiled templates starts empty each run)
            "copier copy, one-file template (folder floor)": ([*copier, str(one_file), str(dest)], False),
            "copier copy, one-file template (git floor)": (
                [*copier, "--vcs-ref", "HEAD", str(one_file_git), str(dest)],
                False,
            ),
            "betagen new --defaults (reference, warm cache)": (betagen_new, False),
            "betagen new --defaults (reference, cold cache)": (betagen_new, True),
            "copier copy --trust --defaults (reference)": (
                [*copier, "--trust", "--vcs-ref", "HEAD", str(ROOT), str(dest)],
                False,
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(runs + 1):  # round 0 only warms: bytecode, the OS's file cache, betagen's cache
            for name, (command, cold) in cases.items():
                cache = work / (f"cold-cache-{round_}" if cold else "cache")
                elapsed = timed(command, dest, {**os.environ, "XDG_CACHE_HOME": str(cache)})
                if round_:
                    times[name].append(elapsed)
        results = {name: statistics.median(samples) for name, samples in times.items()}
    folder_floor, git_floor = list(results.values())[:2]
    print(f"median of {runs} runs each; ratios to the folder floor and to the git floor")
    for name, seconds in results.items():
        print(f"  {name:48} {seconds * 1000:8.1f} ms   {seconds / folder_floor:4.2f}x   {seconds / git_floor:4.2f}x")


if __name__ == "__main__":
    main()
