"""The pipeline on a real three-node Redis Cluster (skipped where redis-server is absent)."""

from __future__ import annotations

import asyncio
import random
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio.cluster import RedisCluster

from bot.redis_conn import connect
from bot.runtime import Runtime
from bot.settings import Settings
from bot.turn import Outcome
from tests.core.test_pipeline import SlowEcho
from tests.helpers import RecordingChannel, message

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(
    not (REDIS_SERVER and REDIS_CLI), reason="redis-server/redis-cli not installed"
)


def _free_port() -> int:
    """A port whose cluster bus port (+10000) is free too; cluster ports must be <= 55535."""
    rng = random.Random()
    while True:
        port = rng.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


@pytest.fixture(scope="module")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three master nodes on loopback, slots spread over them."""
    work: Path = tmp_path_factory.mktemp("cluster")
    ports = [_free_port() for _ in range(3)]
    procs = [
        subprocess.Popen(
            [
                str(REDIS_SERVER),
                "--port",
                str(p),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                f"nodes-{p}.conf",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(work),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]
    try:
        for p in ports:
            _wait_ping(p)
        subprocess.run(
            [
                str(REDIS_CLI),
                "--cluster",
                "create",
                *[f"127.0.0.1:{p}" for p in ports],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        _wait_cluster_ok(ports[0])
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


def _wait_ping(port: int) -> None:
    deadline = time.time() + 10
    while time.time() < deadline:
        if (
            subprocess.run(
                [str(REDIS_CLI), "-p", str(port), "ping"], capture_output=True
            ).stdout.strip()
            == b"PONG"
        ):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis node on {port} did not start")


def _wait_cluster_ok(port: int) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        info = subprocess.run(
            [str(REDIS_CLI), "-p", str(port), "cluster", "info"], capture_output=True
        ).stdout
        if b"cluster_state:ok" in info:
            return
        time.sleep(0.1)
    raise RuntimeError("cluster did not become ok")


@pytest.fixture
async def cluster_runtimes(
    cluster_nodes: list[int], settings: Settings
) -> AsyncIterator[list[Runtime]]:
    url = f"redis://127.0.0.1:{cluster_nodes[0]}/0"
    s = settings.model_copy(update={"redis_url": url, "redis_cluster": True})
    runtimes = []
    for _ in range(2):
        rt = Runtime(s, connect(redis_url=url, data_dir=s.data_dir, cluster=True))
        rt.add_channels([RecordingChannel()])
        rt.use(brain=SlowEcho(delay=0.005))
        await rt.start()
        runtimes.append(rt)
    yield runtimes
    for rt in runtimes:
        await rt.stop()


async def test_scripts_and_keys_work_in_cluster_mode(cluster_runtimes: list[Runtime]) -> None:
    a, b = cluster_runtimes
    assert isinstance(a.redis, RedisCluster)
    users = [f"user{i}" for i in range(12)]  # spread over many slots and all three nodes

    async def send(user: str, i: int, rt: Runtime) -> Outcome:
        turn = await rt.pipeline.handle(
            message(f"{user}-{i}", mid=f"{user}-{i}", user=user), rt.outbound
        )
        return turn.outcome

    jobs = [send(u, i, rt) for u in users for i in range(3) for rt in (a, b)]  # every message twice
    outcomes = await asyncio.gather(*jobs)
    replied = [o for o in outcomes if o is Outcome.REPLIED]
    assert len(replied) == len(users) * 3, outcomes
    assert set(outcomes) <= {Outcome.REPLIED, Outcome.DUPLICATE, Outcome.IN_FLIGHT}
    ctx = await a.contexts.load("test:acct:user0")
    # all three sent at once: each is in the context exactly once (order is arrival order)
    assert sorted(h["text"] for h in ctx.history if h["role"] == "user") == [
        "user0-0",
        "user0-1",
        "user0-2",
    ]
    # the rate limit (burst 5) holds in cluster mode too
    limited = [await send("flood", i, a) for i in range(8)]
    assert limited.count(Outcome.RATE_LIMITED) == 3
