"""Redis servers as bench/scaling.py measures them: INFO deltas, redis-benchmark, a cluster.

- :class:`Node` reads one server's commandstats, network bytes and CPU with INFO and
  takes this module's own INFO traffic out of a delta;
- :func:`redis_benchmark` runs SET, GET and the bot's own GCRA script and says what
  each request cost Redis in commands and CPU;
- :func:`start_cluster` starts a Redis Cluster of masters only, as
  ``tests/core/test_cluster.py`` does.
"""

from __future__ import annotations

import csv
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import redis

from bot.stores.ratelimit import _GCRA  # the bot's own script, for redis-benchmark
from tests.system.cluster import free_port, redis_server_binary


@dataclass(frozen=True)
class RedisUse:
    """Commands, network bytes and CPU seconds of one Redis node (a snapshot or a delta)."""

    calls: dict[str, int]  # commandstats: commands called inside scripts count too
    net_in: int
    net_out: int
    cpu_s: float

    def called(self, name: str) -> int:
        """Calls of one command."""
        return self.calls.get(name, 0)

    @property
    def ops(self) -> int:
        """All commands but INFO (this script's own)."""
        return sum(n for name, n in self.calls.items() if name != "info")

    def __add__(self, other: RedisUse) -> RedisUse:
        calls = dict(self.calls)
        for k, n in other.calls.items():
            calls[k] = calls.get(k, 0) + n
        net_in, net_out = self.net_in + other.net_in, self.net_out + other.net_out
        return RedisUse(calls, net_in, net_out, self.cpu_s + other.cpu_s)


NOTHING = RedisUse({}, 0, 0, 0.0)
INFO_REQUEST = len(b"*2\r\n$4\r\nINFO\r\n$10\r\neverything\r\n")


class Node:
    """One Redis server's counters, read with INFO over one connection kept open.

    One connection, opened before the first reading, adds no HELLO to what is measured;
    the bytes of this script's own INFO requests and replies are taken out of a delta.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.client = redis.Redis(port=port, protocol=2)
        self.client.set_response_callback("INFO", lambda raw, **_: raw)  # bytes, to size them
        self.reply_bytes = 0

    def use(self) -> RedisUse:
        """The counters now."""
        raw: bytes = self.client.execute_command("INFO", "everything")
        self.reply_bytes = len(raw) + len(str(len(raw))) + 5  # $<len>\r\n<raw>\r\n
        info = dict(line.split(":", 1) for line in raw.decode().splitlines() if ":" in line)
        calls = {
            k.removeprefix("cmdstat_"): int(v.split(",")[0].removeprefix("calls="))
            for k, v in info.items()
            if k.startswith("cmdstat_")
        }
        cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return RedisUse(
            calls, int(info["total_net_input_bytes"]), int(info["total_net_output_bytes"]), cpu
        )

    def delta(self, before: RedisUse, after: RedisUse) -> RedisUse:
        """What happened between two readings, this script's INFO calls left out.

        ``after`` counts the INFO calls from ``before``'s up to its own, and the bytes of
        as many requests (``after``'s own read, ``before``'s not) and replies (``before``'s
        written, ``after``'s not yet).
        """
        calls = {k: n - before.calls.get(k, 0) for k, n in after.calls.items()}
        own = calls.pop("info", 0)
        return RedisUse(
            {k: n for k, n in calls.items() if n},
            after.net_in - before.net_in - own * INFO_REQUEST,
            after.net_out - before.net_out - own * self.reply_bytes,
            after.cpu_s - before.cpu_s,
        )


@dataclass(frozen=True)
class Bench:
    """One redis-benchmark run: requests/s, and commands and Redis CPU it took."""

    name: str
    requests: int
    rps: float
    use: RedisUse


def redis_benchmark(port: int, requests: int) -> list[Bench]:
    """SET, GET and the bot's GCRA script against the node at ``port``, one run each."""
    node = Node(port)
    sha = node.client.script_load(_GCRA)
    base = ["redis-benchmark", "-p", str(port), "-n", str(requests), "-c", "50", "-r", "100000"]
    base += ["--csv"]  # before the command: what follows a command is its arguments
    # interval 60 ms, burst 5: random users are always allowed (TIME, GET, SET)
    gcra = ["evalsha", sha, "2", "rl:{u:__rand_int__}", "rn:{u:__rand_int__}", "60", "5", "60000"]
    runs = {"SET": ["-t", "set"], "GET": ["-t", "get"], "EVALSHA (the bot's GCRA)": gcra}
    results = []
    for name, extra in runs.items():
        before = node.use()
        out = subprocess.run(base + extra, capture_output=True, text=True, check=True)
        use = node.delta(before, node.use())
        # progress lines ("SET: rps=...\r") come before the CSV header and row
        rows = list(csv.reader(line for line in out.stdout.splitlines() if line.startswith('"')))
        results.append(Bench(name, requests, float(rows[-1][1]), use))
    return results


# -- a Redis Cluster, as tests/core/test_cluster.py starts one ----------------------------


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


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    """Poll ``check`` until it is true; a TimeoutError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout_s:.0f} s")
        time.sleep(0.05)


def start_cluster(directory: Path, masters: int, procs: list[subprocess.Popen[bytes]]) -> list[int]:
    """``masters`` cluster nodes on loopback, no replicas, the 16384 slots spread over them.

    Each node's process is added to ``procs`` as it starts, for the caller to stop.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ports = [cluster_port() for _ in range(masters)]
    for p in ports:
        args = [redis_server_binary(), "--port", str(p), "--bind", "127.0.0.1"]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{p}.conf"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
    for p in ports:
        wait_until(partial(_answers, p), f"redis cluster node {p}")
    create = ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports]]
    create += ["--cluster-replicas", "0", "--cluster-yes"]
    subprocess.run(create, check=True, capture_output=True, timeout=60)
    for p in ports:  # every node must know every slot before a client asks it
        wait_until(partial(_cluster_ok, p), f"cluster state on {p}")
    return ports


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.2).ping())
    except redis.RedisError:
        return False


def _cluster_ok(port: int) -> bool:
    return bool(redis.Redis(port=port).cluster("info")["cluster_state"] == "ok")
