"""The capacity model's inputs, measured in one run, and a check of the model on a Redis Cluster.

docs/scaling.md is built from what this prints. One run measures, in this order:

1. **a Redis node**: ``redis-benchmark`` (-c 50, no pipelining: the bot makes one round
   trip at a time) on a fresh ``redis-server``: SET, GET, and EVALSHA of the bot's own
   rate-limit script (GCRA: TIME, GET, SET);
2. **one replica**: the bare-echo floor and one ``bot serve`` process (``--workers 1``) on
   a standalone ``redis-server``, under the same wrk settings (``bench/wechat_wrk.py``,
   ``bench/wrk/wechat.lua``): msg/s, the ratio to the echo, CPU per message, and Redis's
   INFO deltas (commandstats, total_net_input/output_bytes, used CPU) over the run,
   divided by the messages answered;
3. **the check**, on a Redis Cluster of ``--replicas`` masters: one replica (what the
   cluster client costs), then ``--replicas`` replicas, one wrk thread (``--connections``
   each) per replica: per-replica msg/s, per-node commands, and the total against what
   the one-replica figures predict;
4. **one conversation**: the same replicas with every message from one sender (one
   hash slot, one conversation lock).

It prints markdown tables, the capacity model for 1k, 10k and 100k msg/s among them, and
stops and removes everything it started (servers, cluster, fake API, temp dir). How Redis
is read, benchmarked and clustered is in ``bench/redis_nodes.py``.

    .venv/bin/python bench/scaling.py [--seconds 10] [--connections 16] [--replicas 3]
                                      [--utilisation 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.redis_nodes import NOTHING, Bench, Node, RedisUse, redis_benchmark, start_cluster
from bench.wechat_wrk import (
    bot_replica,
    records_check,
    run_wrk,
    start_echo,
    tree_cpu_s,
    wait_echo,
    wrk_binary,
)
from tests.fakes import wechat as fwechat
from tests.system.cluster import RedisServer, Replica

TARGETS = (1_000, 10_000, 100_000)


# -- the runs ----------------------------------------------------------------------------


def rate(r: dict[str, Any]) -> float:
    """wrk's answered requests per second."""
    return float(r["requests"]) / (r["duration_us"] / 1e6)


async def echo_floor(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The bare-echo floor under the same wrk settings (after an unreported warm-up)."""
    echo = start_echo(work)
    try:
        await wait_echo(echo.url)  # type: ignore[attr-defined]
        args.server_pid = echo.pid
        await run_wrk(echo.url, args, args.connections, work, seconds=args.warmup)  # type: ignore[attr-defined]
        return await run_wrk(echo.url, args, args.connections, work)  # type: ignore[attr-defined]
    finally:
        echo.terminate()
        echo.wait(10)


async def start_replicas(
    args: argparse.Namespace, redis_url: str, cluster: bool, n: int, work: Path
) -> list[Replica]:
    """``n`` one-process ``bot serve`` replicas on ``redis_url``, each with its own data dir.

    Each is added to ``args.started`` before it is waited for, so :func:`main` stops it
    whatever happens.
    """
    args.redis_url = redis_url
    replicas = []
    for _ in range(n):
        name = f"bot{len(args.started)}"
        replica = bot_replica(args, args.api_url, work / name)
        replica.name = name
        if cluster:
            replica.env["REDIS_CLUSTER"] = "true"
        args.started.append(replica)
        replicas.append(replica.start(work))
    await asyncio.gather(*(asyncio.to_thread(r.wait_ready, 300) for r in replicas))
    return replicas


def quiet(nodes: list[Node], timeout_s: float = 10) -> list[RedisUse]:
    """Redis's counters once no command came in for 100 ms: the turns in flight ended."""
    last = [node.use() for node in nodes]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = [node.use() for node in nodes]
        if all(b.ops == a.ops for a, b in zip(last, now, strict=True)):
            return now
        last = now
    return last


@dataclass
class BotRun:
    """One measured wrk run against replicas, with what the replicas and Redis spent on it."""

    label: str
    wrk: dict[str, Any]
    cpu_s: list[float]  # per replica (its process tree)
    redis: list[RedisUse]  # per Redis node
    records: list[str]  # per replica, the records check of bench/wechat_wrk.py

    @property
    def messages(self) -> int:
        """Messages answered with a 200 (a 503 asks the platform to retry later)."""
        return sum(self.wrk["by_thread"])

    @property
    def rate(self) -> float:
        """Messages answered per second."""
        return self.messages / self.seconds

    @property
    def seconds(self) -> float:
        """wrk's duration."""
        return float(self.wrk["duration_us"]) / 1e6

    @property
    def redis_total(self) -> RedisUse:
        """All nodes together."""
        return sum(self.redis, NOTHING)

    def per_msg(self, amount: float) -> float:
        """``amount`` per message answered."""
        return amount / self.messages


async def bot_run(
    args: argparse.Namespace, ports: list[int], cluster: bool, n: int, work: Path
) -> BotRun:
    """``n`` replicas on the Redis at ``ports``; a warm-up, then the measured run.

    wrk's thread i sends to replica i over ``--connections`` connections; the Redis
    counters are read before the run and after the turns it left in flight ended.
    """
    nodes = [Node(p) for p in ports]
    for node in nodes:  # every run starts from no conversations: same context sizes
        node.client.flushall()
    replicas = await start_replicas(args, f"redis://127.0.0.1:{ports[0]}/0", cluster, n, work)
    run_args = argparse.Namespace(**vars(args))
    run_args.threads = n
    pids = [r.process.pid if r.process else 0 for r in replicas]
    run_args.server_pid = pids[0]
    hosts = [f"127.0.0.1:{r.port}" for r in replicas]
    conns = args.connections * n
    warm = await run_wrk(replicas[0].url, run_args, conns, work, args.warmup, hosts)
    before = await asyncio.to_thread(quiet, nodes)  # the fake API keeps answering
    cpu_before = [tree_cpu_s(pid) for pid in pids]
    r = await run_wrk(replicas[0].url, run_args, conns, work, hosts=hosts)
    after = await asyncio.to_thread(quiet, nodes)
    cpu = [tree_cpu_s(pid) - c for pid, c in zip(pids, cpu_before, strict=True)]
    used = [node.delta(b, a) for node, b, a in zip(nodes, before, after, strict=True)]
    label = f"{n} replica{'s' if n > 1 else ''}, " + (
        f"{len(ports)}-node cluster" if cluster else "1 Redis"
    )
    label += ", one conversation" if args.users == 1 else ""
    run = BotRun(label, r, cpu, used, [])
    # stopped (drained, records flushed) before the records are read
    await asyncio.gather(*(asyncio.to_thread(rep.stop) for rep in replicas))
    for i, replica in enumerate(replicas):
        answered = warm["by_thread"][i] + r["by_thread"][i]
        # two wrk runs (warm-up, measured), each may leave ``connections`` in flight
        data = Path(replica.env["BOT_DATA_DIR"])
        run.records.append(records_check(data, answered, 2 * args.connections))
    return run


# -- the report --------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def runs_table(echo: dict[str, Any], runs: list[BotRun]) -> str:
    """Throughput of the echo floor and each bot run, replica by replica where several."""
    floor = rate(echo)
    header = ["run", "msg/s", "ratio to echo", "p50 ms", "p99 ms", "non-2xx / wrk errors"]
    header += ["replies by API (passive window missed)"]
    header += ["CPU ms/msg: replicas / Redis / wrk", "busy% / steal% / load1"]

    def row(label: str, r: dict[str, Any], answered: int, cpu: list[float]) -> list[str]:
        m = r["machine"]
        errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
        per_s = answered / (r["duration_us"] / 1e6)
        return [
            label,
            f"{per_s:,.0f}",
            f"{per_s / floor:.3f}",
            f"{r['p50_us'] / 1000:.1f}",
            f"{r['p99_us'] / 1000:.1f}",
            f"{r['status']} / {errors}",
            f"{r['later']}",
            " / ".join(f"{1000 * c / answered:.2f}" for c in cpu),
            f"{m.busy_pct:.0f} / {m.steal_pct:.0f} / {m.load1:.1f}",
        ]

    rows = [row("echo (1 process)", echo, echo["requests"], [echo["server_cpu_s"]])]
    for run in runs:
        cpu = [sum(run.cpu_s), run.redis_total.cpu_s, run.wrk["driver_cpu_s"]]
        rows.append(row(run.label, run.wrk, run.messages, cpu))
        for i, cpu_s in enumerate(run.cpu_s if len(run.cpu_s) > 1 else []):
            answered = run.wrk["by_thread"][i]
            per_s = answered / run.seconds
            cpu_ms = f"{1000 * cpu_s / answered:.2f}"
            rows.append(
                [f"- replica {i}", f"{per_s:,.0f}", f"{per_s / floor:.3f}", *[""] * 4, cpu_ms, ""]
            )
    return table(header, rows)


def redis_table(runs: list[BotRun]) -> str:
    """Redis commands (script-internal ones included), bytes and CPU per message."""

    def row(label: str, amount: Callable[[RedisUse], float], fmt: str) -> list[str]:
        return [label] + [format(run.per_msg(amount(run.redis_total)), fmt) for run in runs]

    first = runs[0].redis_total.calls
    names = sorted(
        set().union(*(run.redis_total.calls for run in runs)), key=lambda k: -first.get(k, 0)
    )
    rows = [row(k, partial(RedisUse.called, name=k), ".2f") for k in names]
    rows.append(row("**all commands**", lambda t: t.ops, ".2f"))
    rows.append(row("bytes to Redis", lambda t: t.net_in, ",.0f"))
    rows.append(row("bytes from Redis", lambda t: t.net_out, ",.0f"))
    rows.append(row("Redis CPU µs", lambda t: 1e6 * t.cpu_s, ",.0f"))
    return table(["per message answered", *(run.label for run in runs)], rows)


def nodes_table(run: BotRun) -> str:
    """How a cluster run's Redis work fell on each node."""
    total = run.redis_total.ops or 1
    rows = [
        [
            f"node {i}",
            f"{node.ops / run.seconds:,.0f}",
            f"{node.ops / total:.2f}",
            f"{100 * node.cpu_s / run.seconds:.0f}",
            f"{(node.net_in + node.net_out) / run.seconds / 1024:,.0f}",
        ]
        for i, node in enumerate(run.redis)
    ]
    return table(["node", "commands/s", "share", "CPU % of a core", "net in+out KiB/s"], rows)


def bench_table(benches: list[Bench], single: BotRun) -> str:
    """Redis's cost per request (redis-benchmark) and per message (the bot), in CPU."""
    rows = [
        [
            f"redis-benchmark {b.name}",
            f"{b.rps:,.0f} requests/s",
            f"{b.use.ops / b.requests:.2f}",
            f"{1e6 * b.use.cpu_s / b.requests:.1f} per request",
            f"{b.use.ops / b.use.cpu_s:,.0f}",
        ]
        for b in benches
    ]
    use = single.redis_total
    rows.append(
        [
            f"the bot ({single.label})",
            f"{single.rate:,.0f} msg/s",
            f"{single.per_msg(use.ops):.2f}",
            f"{1e6 * single.per_msg(use.cpu_s):.1f} per message",
            f"{use.ops / use.cpu_s:,.0f}",
        ]
    )
    header = ["on one Redis node", "rate", "commands per request", "Redis CPU µs"]
    return table([*header, "commands per Redis CPU second"], rows)


def model_table(single: BotRun, on_cluster: BotRun, benches: list[Bench], util: float) -> str:
    """Replicas and Redis for each target, every replica and node at ``util`` of its capacity.

    A target whose Redis CPU fits one node stays on ``single``'s figures; past it, the
    cluster run's (its client costs the replicas more CPU per message). Masters: from the
    bot's own Redis CPU per message, and (optimistic: every command, script-internal
    ones too, at a plain SET/GET round trip's cost at saturation) from redis-benchmark's.
    """
    plain = [b for b in benches if b.name in ("SET", "GET")]
    bench_cpu_per_op = sum(b.use.cpu_s for b in plain) / sum(b.use.ops for b in plain)
    rows = []
    for target in TARGETS:
        one_node = target * single.per_msg(single.redis_total.cpu_s) <= util
        run = single if one_node else on_cluster
        use = run.redis_total
        ops = run.per_msg(use.ops)
        masters = math.ceil(target * run.per_msg(use.cpu_s) / util)
        optimistic = math.ceil(target * ops * bench_cpu_per_op / util)
        rows.append(
            [
                f"{target:,}",
                "one node" if one_node else "cluster",
                f"{math.ceil(target / (run.rate * util)):,}",
                f"{math.ceil(target * run.per_msg(sum(run.cpu_s)) / util):,}",
                f"{target * ops:,.0f}",
                f"{target * run.per_msg(use.net_in + use.net_out) / 1e6:,.1f}",
                "1" if one_node else f"{max(3, masters)}",
                "1" if one_node else f"{max(3, optimistic)}",
            ]
        )
    header = ["msg/s", "Redis", "replicas (at the measured msg/s)", "replica cores (at CPU/msg)"]
    header += ["Redis commands/s", "Redis net MB/s", "masters (the bot's Redis CPU/msg)"]
    return table([*header, "masters (redis-benchmark's CPU/command)"], rows)


def check_table(base: BotRun, multi: BotRun) -> str:
    """What one replica's figures predict for ``multi`` (same Redis), against what it measured."""
    n = len(multi.cpu_s)
    measured = multi.rate

    def all_cpu(run: BotRun) -> float:
        return sum(run.cpu_s) + run.redis_total.cpu_s + float(run.wrk["driver_cpu_s"])

    def both(per_msg: Callable[[BotRun], float]) -> tuple[float, float]:
        return per_msg(base), per_msg(multi)

    # the CPU the run's processes got (replicas, Redis, wrk), at one replica's CPU per message
    by_cpu = all_cpu(multi) / multi.seconds / base.per_msg(all_cpu(base))
    largest = max(node.ops for node in multi.redis) / (multi.redis_total.ops or 1)
    checks: list[tuple[str, tuple[float, float], str]] = [
        (f"msg/s: {n} x one replica (a core each)", (n * base.rate, measured), ",.0f"),
        ("msg/s: at the CPU the run got", (by_cpu, measured), ",.0f"),
        ("Redis commands / msg", both(lambda r: r.per_msg(r.redis_total.ops)), ".2f"),
        (
            "Redis bytes / msg",
            both(lambda r: r.per_msg(r.redis_total.net_in + r.redis_total.net_out)),
            ",.0f",
        ),
        ("Redis CPU µs / msg", both(lambda r: 1e6 * r.per_msg(r.redis_total.cpu_s)), ",.0f"),
        ("replica CPU ms / msg", both(lambda r: 1000 * r.per_msg(sum(r.cpu_s))), ".2f"),
        ("largest node's share of commands", (1 / n, largest), ".2f"),
    ]
    rows = [
        [label, format(want, fmt), format(got, fmt), f"{got / want:.2f}"]
        for label, (want, got), fmt in checks
    ]
    header = [f"predicted from {base.label}", "predicted", "measured", "measured / predicted"]
    return table(header, rows)


# -- main --------------------------------------------------------------------------------


async def measure(args: argparse.Namespace, work: Path) -> None:
    """Every measurement in order, then the tables; teardown is :func:`main`'s."""
    server = RedisServer(work / "redis-benchmark")
    args.servers.append(server.start())
    benches = redis_benchmark(server.port, args.bench_requests)
    server.stop()
    echo = await echo_floor(args, work)
    api = await fwechat.FakeWeChat().start()
    args.api_url = api.base_url
    try:
        server = RedisServer(work / "redis")
        args.servers.append(server.start())
        single = await bot_run(args, [server.port], False, 1, work)
        server.stop()
        ports = start_cluster(work / "cluster", args.replicas, args.nodes)
        # the cluster client's own cost, before the replicas share the cores
        one_on_cluster = await bot_run(args, ports, True, 1, work)
        multi = await bot_run(args, ports, True, args.replicas, work)
        # every message from one sender: one conversation, one hash slot, one lock
        hot = await bot_run(
            argparse.Namespace(**{**vars(args), "users": 1}), ports, True, args.replicas, work
        )
    finally:
        await api.stop()
    runs = [single, one_on_cluster, multi, hot]
    print("## Runs\n\n" + runs_table(echo, runs))
    print("\n## Redis per message\n\n" + redis_table(runs))
    for run in (multi, hot):
        print(f"\n## {run.label}: per node\n\n" + nodes_table(run))
    print("\n## A Redis node\n\n" + bench_table(benches, single))
    print(f"\n## Capacity model (replicas and nodes planned at {args.utilisation:.0%})\n")
    print(model_table(single, one_on_cluster, benches, args.utilisation))
    print(f"\n## Check: {multi.label}\n\n" + check_table(one_on_cluster, multi))
    print("\n" + "\n".join(f"{run.label}: {line}" for run in runs for line in run.records))
    print(
        f"\nwrk -d{args.seconds}s, {args.connections} connections per replica, bundled model, "
        f"NLU cache off, --workers 1 per replica; driver, replicas and Redis on the same "
        f"{os.cpu_count()} cores; busy%/steal% over each run, load1 at its end. "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per run")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections per replica")
    parser.add_argument("--warmup", type=int, default=2, help="unreported first run, seconds")
    parser.add_argument("--replicas", type=int, default=3, help="replicas and cluster masters")
    parser.add_argument("--users", type=int, default=20_000, help="distinct senders")
    parser.add_argument("--bench-requests", type=int, default=100_000, help="redis-benchmark -n")
    parser.add_argument("--utilisation", type=float, default=0.5, help="planned share of capacity")
    args = parser.parse_args()
    for tool in ("redis-cli", "redis-benchmark"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/scaling.py: {tool} is not on PATH (apt-get install redis-tools)")
    args.wrk = wrk_binary()
    args.run, args.threads, args.workers = 0, 1, 1
    args.started, args.servers, args.nodes = [], [], []
    work = Path(tempfile.mkdtemp(prefix="scaling-"))
    try:
        asyncio.run(measure(args, work))
    finally:
        for replica in args.started:
            replica.stop()
        for server in args.servers:
            server.stop()
        for node in args.nodes:
            node.terminate()
            node.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
