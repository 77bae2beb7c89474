"""Redis servers as bench/scaling.py measures them: INFO deltas, redis-benchmark, a cluster.

- :class:`Node` reads one server's commandstats, network bytes and CPU with INFO and
  takes this module's own INFO traffic out of a delta;
- :func:`redis_benchmark` runs SET, GET and the bot's own GCRA script and says what
  each request cost Redis in commands and CPU;
- a Redis Cluster comes from :func:`tests.system.cluster.start_cluster`, the one the
  cluster test starts.
"""

from __future__ import annotations

import csv
import subprocess
from dataclasses import dataclass

import redis

from bot.stores.ratelimit import _GCRA  # the bot's own script, for redis-benchmark


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
