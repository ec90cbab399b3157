"""Compiled Jinja templates kept between renders, through Jinja's public bytecode cache.

Copier compiles every template file on every render; Jinja's `BytecodeCache` (set on the environment by
hooks/extensions.py, the template's own Jinja extension) keeps each compiled file with a checksum of its
source and compiles again whenever the source differs, so a stale entry is never used. Jinja's default
key includes the file's path, which lies in a fresh clone on every render: here the key is the template's
name inside the template plus a fingerprint of everything else that shapes compilation: copier.yml (its
Jinja options and extensions), the hooks, the plan engine whose functions the filters are (Jinja runs a
filter applied to a constant while compiling), and the versions of Python, copier, Jinja and the Jinja
extensions' packages. Strings copier renders (paths, questions) are compiled by copier itself: no public
means reach them.

The cache lives in `$XDG_CACHE_HOME/betagen/jinja` (default `~/.cache/betagen/jinja`), best effort: an
unwritable or damaged cache only means compiling again.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from jinja2.bccache import Bucket, FileSystemBytecodeCache

ROOT = Path(__file__).resolve().parents[1]
COMPILING_PACKAGES = ("copier", "jinja2", "jinja2-ansible-filters", "copier-template-extensions")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG base directory spec: a relative path is invalid and is ignored.
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "betagen" / "jinja"


def fingerprint(root: Path, engine_digest: str) -> str:
    """What, besides a template's own source, decides what it compiles to."""
    digest = hashlib.sha256(f"python {sys.version}\0engine {engine_digest}".encode())
    for package in COMPILING_PACKAGES:
        digest.update(f"\0{package} {_version(package)}".encode())
    hooks = sorted(p for p in (root / "hooks").glob("*.py"))
    for path in [root / "copier.yml", root / "copier.yaml", *hooks]:
        if path.is_file():
            digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


class CompiledTemplates(FileSystemBytecodeCache):
    def __init__(self, directory: Path, fingerprint: str) -> None:
        super().__init__(str(directory), "%s.jinja-cache")
        self.fingerprint = fingerprint

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return hashlib.sha256(f"{self.fingerprint}|{name}".encode()).hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged entry: compile as if it were missing
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):  # read-only or full disk: the next render compiles again
            super().dump_bytecode(bucket)


def compiled_templates(engine_digest: str) -> CompiledTemplates | None:
    """The cache for this template, or None when no cache folder can be made."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return CompiledTemplates(directory, fingerprint(ROOT, engine_digest))
