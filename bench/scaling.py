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
is read, benchmarked and clustered is in ``bench/redis_nodes.py``; the tables and the
model are in ``bench/scaling_report.py``.

    .venv/bin/python bench/scaling.py [--seconds 10] [--connections 16] [--replicas 3]
                                      [--utilisation 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.redis_nodes import Node, RedisUse, redis_benchmark
from bench.scaling_report import (
    BotRun,
    bench_table,
    check_table,
    model_table,
    nodes_table,
    redis_table,
    runs_table,
)
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
from tests.system.cluster import RedisServer, Replica, start_cluster

# -- the runs ----------------------------------------------------------------------------


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
