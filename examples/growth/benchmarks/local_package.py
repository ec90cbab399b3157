"""The Lambda package as the deploy builds it, in its local-build variant, for the cold-start benchmark.

`ops.release.build_package` is what `./deploy.sh` runs: the same files, the same check of the dependencies
against pyproject, the same bytecode step and the same deterministic zip. Only two of its inputs differ here:
- the dependencies are COPIED from the distributions installed in this environment (the ones the tests run
  against) instead of downloaded by pip as linux-arm64 wheels: those cannot run on this machine, and pip
  cannot download anything offline;
- the bytecode is compiled by this interpreter, the one the benchmark runs the package with (the deploy
  compiles with a Python of the runtime's version).
So the figures are this machine's and this Python's; the sizes are close to the deploy's, not equal to them
(other platform's binaries, bytecode of another Python version).
"""

from __future__ import annotations

import io
import shutil
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ops.console import Console
from ops.release import BytecodePython, build_package, probe_python

VARIANT = "local build: dependencies copied from this environment, bytecode by this Python"


class LocalBuildError(Exception):
    """A dependency of the package is not installed here: the local build cannot copy it."""


def installed_closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions the requirements need, transitively, with the extras they ask for and
    the markers evaluated for this environment."""
    extras_of: dict[str, set[str]] = {}
    found: dict[str, metadata.Distribution] = {}
    pending = [(Requirement(line), "") for line in requirements]
    while pending:
        requirement, extra = pending.pop()
        # evaluate() completes the environment with this interpreter's (packaging's default_environment).
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        wanted = set(requirement.extras)
        if name in found and wanted <= extras_of[name]:
            continue
        try:
            found[name] = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise LocalBuildError(f"{requirement.name} is not installed here (run make install)") from None
        extras_of[name] = extras_of.get(name, set()) | wanted
        for line in found[name].requires or []:
            for each in {"", *extras_of[name]}:
                pending.append((Requirement(line), each))
    return [found[name] for name in sorted(found)]


def copy_installed_distributions(target: Path, requirements: list[str]) -> None:
    """What `pip install --target` would put there, taken from this environment's installed files."""
    target.mkdir(parents=True, exist_ok=True)
    for dist in installed_closure(requirements):
        for file in dist.files or []:
            # Scripts and data installed outside site-packages (../../bin/...) are not importable code.
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / file)


def this_python() -> BytecodePython:
    found = probe_python(sys.executable)
    if found is None:
        raise LocalBuildError(f"{sys.executable} does not report its bytecode tag")
    return found


def build_local_package(root: Path, console: Console, *, bytecode: bool = True) -> bytes:
    return build_package(
        root,
        console=console,
        vendor=copy_installed_distributions,
        bytecode=this_python if bytecode else lambda: None,
    )


def extract(package: bytes, folder: Path) -> Path:
    """Unzip as Lambda does into /var/task (here: `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(package)) as archive:
        archive.extractall(folder)
    return folder
