"""Copier's render of a new project, without repeating work whose result cannot change.

Rendering the ~110 files of a beta repository, copier spends most of its time on work it repeats though
the result is the same each time:

- after writing each file, it runs `git config --get core.fileMode` in the destination (a process per
  file) and syncs the git index only when that prints `false`. The setting does not change while a
  project renders, so git is asked once; when it is `false`, copier's own sync runs for every file.
- it compiles every segment of every path as a Jinja template, and the answers file's name once more per
  segment, to compare them; and each question's help, default, choices and validator several times. A
  string with no template syntax renders to itself, so it is not rendered; a string with syntax is
  compiled once, and its code reused (as Jinja's own bytecode cache does), each render still getting
  the current context.
- every run compiles the same templates again: their code is kept between runs (compiled_templates).

The files written are copier's own, byte for byte: tests/test_copier_worker.py renders both ways and
compares. The overrides replace private members of copier's Worker, so that test also checks they
still exist, and a copier release that renames one fails the suite instead of quietly rendering slower.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from types import CodeType
from typing import Any

from copier._jinja_ext import SandboxedEnvironment
from copier._main import Worker

from generator.compiled_templates import CompiledTemplates, compiled_templates


class NewProjectWorker(Worker):
    @cached_property
    def _kept(self) -> CompiledTemplates | None:
        return compiled_templates(self.template.local_abspath)

    @cached_property
    def jinja_env(self) -> SandboxedEnvironment:
        env = super().jinja_env
        env.bytecode_cache = self._kept
        env.compile = _CompileOnce(env, self._kept.load_strings() if self._kept else {})  # type: ignore[method-assign]
        return env

    def run_copy(self) -> None:
        super().run_copy()
        compile_once = self.jinja_env.compile
        if self._kept and isinstance(compile_once, _CompileOnce) and compile_once.added:
            self._kept.save_strings(compile_once.code)

    @cached_property
    def _index_ignores_file_mode(self) -> bool:
        done = subprocess.run(
            ["git", "config", "--type=bool", "--get", "core.fileMode"],
            cwd=self.subproject.local_abspath,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode == 0 and done.stdout.strip() == "false"

    def _sync_git_index_executable_bit(self, dst_relpath: Path, src_mode: int) -> None:
        if self._index_ignores_file_mode:
            super()._sync_git_index_executable_bit(dst_relpath, src_mode)

    @property
    def answers_relpath(self) -> Path:
        path = self._plain(str(self.answers_file or self.template.answers_relpath))
        return Path(path) if path is not None else super().answers_relpath

    def _render_template(self) -> None:
        # Copier used to render a path before writing any file, which runs the context hook (and its
        # budget check) first; plain paths no longer render, so render the context once up front.
        self.jinja_env.from_string("").render(**self._render_context())
        super()._render_template()

    def _render_string(self, string: str, extra_context: dict[str, Any] | None = None) -> str:
        plain = self._plain(string) if isinstance(string, str) else None
        return plain if plain is not None else super()._render_string(string, extra_context)

    def _plain(self, string: str) -> str | None:
        """The string itself when Jinja would render it unchanged (no delimiter, line prefix or newline),
        with the side effect compiling it has: extensions reset their state (copier's `{% yield %}`
        record, which copier reads after rendering a name and, through the answers file's name, before
        rendering a file). None when it needs rendering."""
        env = self.jinja_env
        markers = [
            env.block_start_string,
            env.variable_start_string,
            env.comment_start_string,
            env.line_statement_prefix,
            env.line_comment_prefix,
            "\n",
            "\r",
        ]
        if any(marker and marker in string for marker in markers):
            return None
        env.preprocess(string)
        return string


class _CompileOnce:
    """The environment's `compile`, remembering the code of each template given as a string."""

    def __init__(self, env: SandboxedEnvironment, code: dict[str, CodeType]) -> None:
        self.env = env
        self.compile: Callable[..., Any] = env.compile
        self.code = code
        self.added = False

    def __call__(
        self,
        source: Any,
        name: str | None = None,
        filename: str | None = None,
        raw: bool = False,
        defer_init: bool = False,
    ) -> Any:
        if not isinstance(source, str) or name or filename or raw or defer_init:
            return self.compile(source, name, filename, raw, defer_init)
        if source in self.code:
            self.env.preprocess(source)  # extensions reset their state there, as on a first compile
        else:
            self.code[source] = self.compile(source)
            self.added = True
        return self.code[source]
