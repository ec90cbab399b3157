"""Runs the worker app under a real uvicorn server on 127.0.0.1, in a thread or a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from devstack.ports import free_port, wait_for_port
from devstack.processes import die_with_parent, stop_process

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class ThreadedAppServer:
    app: Any
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedAppServer:
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)


@dataclass
class AppProcess:
    """`uvicorn app.main:app` in a child process configured only through environment variables."""

    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # Where the server's own output goes (None: discarded). `make dev` passes None to show it.
    log_path: Path | None = None
    quiet: bool = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AppProcess:
        output: Any = subprocess.DEVNULL if self.quiet else None
        if self.log_path is not None:
            output = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the server
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=PROJECT_DIR,
            env={**os.environ, **self.env},
            stdout=output,
            stderr=output,
            preexec_fn=die_with_parent(),
        )
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        """SIGTERM: uvicorn finishes in-flight requests and closes its port."""
        if self.process is not None:
            stop_process(self.process)

    def kill(self) -> None:
        """SIGKILL: no cleanup runs, like a crashed or timed-out Lambda."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
