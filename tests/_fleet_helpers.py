"""Real servers for the fleet tests: ``redis-server`` and ``haproxy``, started on 127.0.0.1 random ports.

Both come from Debian (``apt-get install redis-server haproxy``); without them the tests skip with that
command (``tests/_system_tools.need``), and under ``.ci/run``, which installs them, fail instead.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipecat_twilio_realtime.testing.serve import free_port

from ._system_tools import need

__all__ = ["free_port", "need"]


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str, limit_s: float = 20) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{what} exited with status {process.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port} within {limit_s} s")


class RedisServer:
    """A ``redis-server`` with no persistence, that a test may kill and start again on the same port."""

    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [need("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        _wait_listening(self.port, self.process, "redis-server")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.kill()


def haproxy_config(port: int, backends: list[int]) -> str:
    """The load balancer of docs/operations.md: round robin, HTTP mode (websockets pass as upgrades)."""
    servers = "\n".join(
        f"    server bot{n} 127.0.0.1:{p} check inter 1s" for n, p in enumerate(backends, start=1)
    )
    return f"""global
    maxconn 1024

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    # a media stream is one long websocket: once upgraded, the tunnel timeout applies
    timeout tunnel 2h

frontend twilio
    bind 127.0.0.1:{port}
    default_backend bots

backend bots
    balance roundrobin
    # liveness, not /readyz: at the global cap every process is "not ready" at once, and the webhook
    # must still reach one of them to answer busy (or TRANSFER_TO) instead of the balancer's own 503
    option httpchk GET /healthz
    http-response set-header X-Served-By %s
{servers}
"""


@contextmanager
def haproxy(tmp_path: Path, backends: list[int]) -> Iterator[int]:
    """Run haproxy in front of ``backends`` (ports on 127.0.0.1); yields its port."""
    program = need("haproxy")
    port = free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(port, backends))
    check = subprocess.run([program, "-c", "-f", str(config)], capture_output=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    with (tmp_path / "haproxy.log").open("ab") as out:
        process = subprocess.Popen([program, "-db", "-f", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process, "haproxy")
        yield port
    finally:
        process.kill()
        process.wait()
