"""Wall time of rendering and updating the reference beta, against copier's own floor, in the same run.

The template is this repository as a fresh clone has it (its files, uncommitted edits included, committed
into a temporary git repository and tagged v1), so every case renders the same template:

- floor: `copier copy` of a one-file template (what copier costs before any template work), served as a
  plain folder and as a git repository (copier clones any template whose folder is a git repository)
- `betagen new DEST --defaults --template <repo>` with its caches (plan engines, compiled templates) warm,
  and cold (an empty cache folder each run)
- `copier copy --trust --defaults <repo>` of this template
- `betagen update` of a committed reference project rendered from v1: with no change, and with one answer
  changed (`--set users=60`); each run on a fresh copy of the project (the copy is not timed); and
  `copier update --trust --defaults` with no change

The cases run in turns (one of each per round), so a slow spell of a shared machine slows all of them
alike. Prints the median of each and its ratios. Usage: python benchmarks/render.py [RUNS]
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
GIT_USER = ["-c", "user.name=b", "-c", "user.email=b@example.com"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *GIT_USER, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def committed(folder: Path, tag: str | None = None) -> Path:
    git(folder, "init", "-q")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "benchmark")
    if tag:
        git(folder, "tag", tag)
    return folder


def template_repository(into: Path) -> Path:
    """This repository's files as a fresh clone would have them, committed and tagged v1."""
    for name in git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard").splitlines():
        if (ROOT / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, into / name)
    return committed(into, "v1")


def timed(command: list[str], cwd: Path, env: dict[str, str], project: Path | None) -> float:
    """Seconds COMMAND takes in CWD; PROJECT, when an update needs one, is copied there first (untimed)."""
    shutil.rmtree(cwd, ignore_errors=True)
    if project is not None:
        shutil.copytree(project, cwd, symlinks=True)
    else:
        cwd.mkdir(parents=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - start
    shutil.rmtree(cwd, ignore_errors=True)
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        one_file = work / "one-file-template"
        one_file.mkdir()
        (one_file / "copier.yml").write_text("name:\n  type: str\n  default: world\n")
        (one_file / "README.md.jinja").write_text("Hello {{ name }}\n")
        one_file_git = committed(Path(shutil.copytree(one_file, work / "one-file-git")))
        repo = template_repository(work / "betagen")
        env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}
        project = work / "reference-project"
        subprocess.run(
            [str(BIN / "betagen"), "new", str(project), "--defaults", "--template", str(repo)],
            check=True,
            capture_output=True,
            env=env,
        )
        committed(project)

        copier = [str(BIN / "copier"), "copy", "-q", "--defaults"]
        betagen = str(BIN / "betagen")
        cases: dict[str, tuple[list[str], bool, Path | None]] = {  # command, cold caches, project to update
            "copier copy, one-file template (folder floor)": ([*copier, str(one_file), "out"], False, None),
            "copier copy, one-file template (git floor)": ([*copier, str(one_file_git), "out"], False, None),
            "betagen new --defaults (warm caches)": (
                [betagen, "new", "out", "--defaults", "--template", str(repo)],
                False,
                None,
            ),
            "betagen new --defaults (cold caches)": (
                [betagen, "new", "out", "--defaults", "--template", str(repo)],
                True,
                None,
            ),
            "copier copy --trust --defaults (reference)": ([*copier, "--trust", str(repo), "out"], False, None),
            "betagen update, no change": ([betagen, "update", "."], False, project),
            "betagen update --set users=60": ([betagen, "update", ".", "--set", "users=60"], False, project),
            "copier update --trust --defaults, no change": (
                [str(BIN / "copier"), "update", "-q", "--trust", "--defaults"],
                False,
                project,
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for round_ in range(runs + 1):  # round 0 only warms: bytecode, the OS's file cache, betagen's caches
            for name, (command, cold, to_update) in cases.items():
                cache = work / (f"cold-cache-{round_}" if cold else "cache")
                elapsed = timed(command, work / "run", {**env, "XDG_CACHE_HOME": str(cache)}, to_update)
                if round_:
                    times[name].append(elapsed)
        results = {name: statistics.median(samples) for name, samples in times.items()}
    folder_floor = results["copier copy, one-file template (folder floor)"]
    new = results["betagen new --defaults (warm caches)"]
    copy = results["copier copy --trust --defaults (reference)"]
    print(f"median of {runs} runs each; ratio to the folder floor, and to `betagen new` (warm)")
    for name, seconds in results.items():
        print(f"  {name:48} {seconds * 1000:8.1f} ms   {seconds / folder_floor:5.2f}x   {seconds / new:5.2f}x")
    print(f"betagen new / copier copy of this template: {new / copy:.2f}")


if __name__ == "__main__":
    main()
