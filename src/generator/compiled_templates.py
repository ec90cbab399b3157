"""Compiled Jinja templates kept between runs of `betagen new`, like Python keeps .pyc files.

Compiling templates is most of what copier's render of a new project costs once its other repeated work
is gone (see copier_worker): the docs' template files, and the strings copier renders as templates
(each question's help, default and validator; templated file names).

- Template files go through Jinja's own bytecode cache, which stores each one with a checksum of its
  source and recompiles whenever the source differs, so a stale entry is never used. Its default key
  includes the file's path, which lies in a fresh temporary snapshot on every run; here the key is the
  template's name inside the template.
- Template strings are kept in one file, each under its own source text, so a changed string is simply
  a new entry.

Both are keyed by a fingerprint of everything else that shapes compilation: copier.yml (its Jinja
options and extensions), the hooks, the plan engine whose functions the filters are (Jinja runs a filter
applied to a constant while compiling, and compiles a call by the filter's signature), and the versions
of Python, copier, Jinja and the Jinja extensions' packages.

The cache lives in `$XDG_CACHE_HOME/betagen/jinja` (default `~/.cache/betagen/jinja`). It is best
effort: an unwritable or damaged cache only means compiling again.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import os
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import CodeType

from jinja2.bccache import Bucket, FileSystemBytecodeCache

# Packages whose code runs while Jinja compiles a template: filters applied to constants run then, and a
# filter's signature decides what the compiled code passes it.
COMPILING_PACKAGES = ("copier", "jinja2", "jinja2-ansible-filters", "copier-template-extensions")
# The plan engine, whose functions the template's filters are.
ENGINE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative path is invalid and is ignored.
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / "betagen" / "jinja"


def template_fingerprint(template_root: Path, engine: Path = ENGINE) -> str:
    """What, besides a template's own source, decides what it compiles to."""
    digest = hashlib.sha256(f"python {sys.version}".encode())
    for package in COMPILING_PACKAGES:
        digest.update(f"\0{package} {_version(package)}".encode())
    config = [template_root / name for name in ("copier.yml", "copier.yaml")]
    for path in [*config, *_files(template_root / "hooks"), *_files(engine)]:
        if path.is_file():
            digest.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


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
        with contextlib.suppress(OSError):  # read-only or full disk: the next run compiles again
            super().dump_bytecode(bucket)

    @property
    def strings_file(self) -> Path:
        return Path(self.directory) / f"{self.fingerprint}.strings"

    def load_strings(self) -> dict[str, CodeType]:
        """The code of each template string compiled by an earlier run (empty when none or damaged)."""
        try:
            codes = marshal.loads(self.strings_file.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return {}
        if not isinstance(codes, dict):
            return {}
        return {k: v for k, v in codes.items() if isinstance(k, str) and isinstance(v, CodeType)}

    def save_strings(self, codes: dict[str, CodeType]) -> None:
        """Replace the file at once, so a concurrent run reads the old one or the new one, never half."""
        try:
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        except OSError:  # read-only or full disk: the next run compiles again
            return
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(marshal.dumps(codes))
            os.replace(temporary, self.strings_file)
        except OSError:
            Path(temporary).unlink(missing_ok=True)


def compiled_templates(template_root: Path) -> CompiledTemplates | None:
    """The cache for this template, or None when no cache folder can be made."""
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return CompiledTemplates(directory, template_fingerprint(template_root))
