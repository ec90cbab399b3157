"""moto's S3 server in its own process on 127.0.0.1 (a separate process, like the real S3 is, so its
CPU use does not compete with the app under measurement for one interpreter's GIL)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

from devstack.ports import free_port, wait_for_port
from devstack.processes import die_with_parent, stop_process


@dataclass
class MotoProcess:
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),
        )
        wait_for_port(self.port, timeout=30)
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
