"""`bot serve --workers 2` as real processes: one port, one stream per replica, one reply each.

Each worker is a replica to Redis (its own id and heartbeat); the replica's
stream connection belongs to its first worker only. Every wait is for a
condition; the bounds only turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import websockets

from tests.fakes import dingtalk as fding
from tests.fakes.dingtalk import FakeDingTalk, robot_message
from tests.helpers import until
from tests.system.cluster import Replica

GUARD_S = 120


def _started(replica: Replica) -> list[dict[str, object]]:
    """The "runtime started" lines so far: one per worker that finished starting."""
    assert replica.log_path is not None
    lines = replica.log_path.read_text(errors="replace").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if r.get("msg") == "runtime started"]


@pytest.fixture
def spawned() -> Iterator[list[Replica]]:
    """Replicas a test started: killed afterwards, whatever happened, with their workers."""
    replicas: list[Replica] = []
    yield replicas
    for replica in replicas:
        replica.kill()


def _serve_workers(spawned: list[Replica], tmp_path: Path, model: Path, **env: str) -> Replica:
    replica = Replica(
        "workers",
        {
            "BOT_DATA_DIR": str(tmp_path / "data"),
            "MODEL_DIR": str(model),
            "REDIS_URL": "",  # the embedded server, started once by the parent
            "SHUTDOWN_DRAIN_S": "2",
            **env,
        },
        args=["--workers", "2"],
    )
    spawned.append(replica)
    replica.start(tmp_path)
    replica.wait_ready(GUARD_S)
    asyncio.run(until(lambda: len(_started(replica)) == 2, seconds=GUARD_S))
    return replica


def _stop(replica: Replica) -> int:
    assert replica.process is not None
    replica.process.send_signal(signal.SIGTERM)
    return replica.process.wait(GUARD_S)


@pytest.fixture
def ding() -> Iterator[FakeDingTalk]:
    fake = FakeDingTalk().start()
    yield fake
    fake.stop()


def test_two_workers_share_the_port_and_the_embedded_redis(
    tmp_path: Path, tiny_model_dir: Path, spawned: list[Replica]
) -> None:
    replica = _serve_workers(spawned, tmp_path, tiny_model_dir)
    started = _started(replica)
    assert len({r["replica"] for r in started}) == 2  # two replicas to Redis, two heartbeats
    assert sorted(r["worker"] for r in started) == [0, 1]  # type: ignore[type-var]
    assert replica.process is not None
    workers = psutil.Process(replica.process.pid).children()
    # several conversations over fresh connections: the kernel spreads them over both
    replies = asyncio.run(_chat(replica, [f"conv{i}" for i in range(8)]))
    assert all(len(texts) == 1 for texts in replies.values()), replies
    assert _stop(replica) == 0
    psutil.wait_procs(workers, timeout=GUARD_S)
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    registry = json.loads((tmp_path / "data" / "redis" / "bot.db.settings").read_text())
    assert not Path(registry["pidfile"]).exists()  # the parent stopped the embedded Redis
    assert replica.log_path is not None
    assert "Traceback" not in replica.log_path.read_text(errors="replace")


def test_once_ready_the_workers_share_new_connections(
    tmp_path: Path, tiny_model_dir: Path, spawned: list[Replica]
) -> None:
    replica = Replica(
        "workers",
        {"BOT_DATA_DIR": str(tmp_path / "data"), "MODEL_DIR": str(tiny_model_dir), "REDIS_URL": ""},
        args=["--workers", "2"],
    )
    spawned.append(replica)
    replica.start(tmp_path)
    replica.wait_ready(GUARD_S)  # what a load balancer waits for: no more than that
    assert replica.process is not None
    workers = psutil.Process(replica.process.pid).children()
    port = replica.port
    # kept-alive connections opened at once, as a load balancer or wrk opens them: with
    # one shared socket, whichever worker woke first took them all
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
    try:

        def accepted() -> list[int]:
            return [
                sum(
                    1
                    for c in w.net_connections(kind="tcp")
                    if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                )
                for w in workers
            ]

        asyncio.run(until(lambda: sum(accepted()) == len(held), seconds=GUARD_S))
        assert len(workers) == 2 and min(accepted()) > 0, accepted()
    finally:
        for sock in held:
            sock.close()
    assert _stop(replica) == 0


def test_a_replica_opens_one_stream_and_answers_each_message_once(
    tmp_path: Path, tiny_model_dir: Path, ding: FakeDingTalk, spawned: list[Replica]
) -> None:
    replica = _serve_workers(
        spawned,
        tmp_path,
        tiny_model_dir,
        DINGTALK_CLIENT_ID=fding.CLIENT_ID,
        DINGTALK_CLIENT_SECRET=fding.CLIENT_SECRET,
        DINGTALK_API_BASE_URL=ding.base_url,
    )
    # both workers have started (channels included): only worker 0 opened the stream
    assert [r["streams"] for r in sorted(_started(replica), key=lambda r: str(r["worker"]))] == [
        True,
        False,
    ]
    asyncio.run(
        until(lambda: ding.open_sockets == 1, seconds=GUARD_S)
    )  # it connects in the background
    ids = [f"w{i}" for i in range(5)]
    for i, msg_id in enumerate(ids):
        ding.push(
            robot_message("我要退货", msg_id=msg_id, base_url=ding.base_url, conversation=f"c{i}")
        )
    asyncio.run(until(lambda: len(ding.sent) >= len(ids), seconds=GUARD_S))
    assert _stop(replica) == 0  # after the exit nothing more can be sent
    assert len(ding.sent) == len(ids)
    assert sorted(path for path, _ in ding.sent) == sorted(f"/session/c{i}" for i in range(5))
    assert ding.connections == 1


def test_killing_the_parent_takes_its_workers_with_it(
    tmp_path: Path, tiny_model_dir: Path, spawned: list[Replica]
) -> None:
    replica = _serve_workers(spawned, tmp_path, tiny_model_dir)
    assert replica.process is not None
    workers = psutil.Process(replica.process.pid).children()
    assert len(workers) == 2
    replica.kill()  # SIGKILL: a crashed node or an OOM kill; it forwards nothing
    _, alive = psutil.wait_procs(workers, timeout=GUARD_S)
    assert not alive
    # its embedded Redis outlives it (a restart on the same data dir joins that server);
    # this data dir goes away with the test, so its server goes too
    for proc in psutil.process_iter(["name", "cwd"]):
        if proc.info["name"] == "redis-server" and str(tmp_path) in (proc.info["cwd"] or ""):
            proc.kill()


async def _chat(replica: Replica, conversations: list[str]) -> dict[str, list[str]]:
    """Send one message per conversation, each over its own socket; the reply of each."""
    replies: dict[str, list[str]] = {}
    for cid in conversations:
        url = replica.url.replace("http", "ws") + f"/webchat?cid={cid}"
        async with websockets.connect(url) as socket:
            await socket.send(json.dumps({"type": "message", "id": "m1", "text": "你好"}))
            reply = json.loads(await asyncio.wait_for(socket.recv(), GUARD_S))
            replies[cid] = [reply["text"]]
    return replies


def test_without_a_trained_model_one_worker_trains_it(tmp_path: Path) -> None:
    from bot.settings import load_settings
    from service.cli.workers import worker_count

    root = {"data_dir": str(tmp_path / "fresh")}
    settings = load_settings(None, root["data_dir"], model_dir=None)
    # N workers would each train their own copy of the model at once
    assert worker_count(settings, 4, root) == 1
