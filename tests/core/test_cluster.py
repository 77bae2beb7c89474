"""The pipeline on a real three-node Redis Cluster (skipped where redis-server is absent)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio.cluster import RedisCluster

from bot.redis_conn import connect
from bot.runtime import Runtime
from bot.settings import Settings
from bot.turn import Outcome
from tests.core.test_pipeline import SlowEcho
from tests.helpers import RecordingChannel, message
from tests.system.cluster import start_cluster

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")
pytestmark = pytest.mark.skipif(
    not (REDIS_SERVER and REDIS_CLI), reason="redis-server/redis-cli not installed"
)


@pytest.fixture(scope="module")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three master nodes on loopback, slots spread over them."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield start_cluster(tmp_path_factory.mktemp("cluster"), 3, procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)


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
