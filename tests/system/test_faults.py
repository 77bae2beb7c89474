"""Faults under load, with real processes: two ``bot serve`` replicas, one ``redis-server``.

The fake platforms deliver and retry as the real ones do (WeChat: 3 tries 5 s
apart; Slack: retries without an ack; DingTalk: the gateway redelivers frames
that were not acked), and every reply is checked against what its text gets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import until
from tests.system.cluster import RedisServer
from tests.system.ledger import Ledger, Report, check, settle
from tests.system.load import CANDIDATES, Driver, calibrate, open_loop, texts_for
from tests.system.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis with an append-only file, so a restart keeps its data like a production one."""
    server = RedisServer(tmp_path / "redis", persist=True).start()
    yield server
    server.stop()


Fault = Callable[[Driver], Awaitable[None]]


async def _load_with_fault(
    stack: Stack, fault: Fault, *, messages: int = 240
) -> tuple[Report, int]:
    """Calibrate, then 30 msg/s across the platforms; ``fault(driver)`` runs mid-load.

    Mid-load means once a quarter of the messages have gone out (about 2 s in),
    whatever the machine's speed.
    """
    assert stack.platforms is not None
    async with Driver(stack.platforms, stack.urls) as driver:
        expected = await calibrate(driver, CANDIDATES[:4])
        assert expected, "calibration kept no text"
        stack.platforms.ledger = Ledger()
        load = asyncio.create_task(
            open_loop(driver, texts_for(expected), rate=30, messages=messages, users=40)
        )
        ledger = stack.platforms.ledger
        await until(
            lambda: sum(map(len, ledger.sent.values())) >= messages // 4 or load.done(),
            seconds=120,
        )
        await fault(driver)
        await load
        await settle(stack.platforms.ledger, expected, timeout_s=60)
        report = check(stack.platforms.ledger, expected)
        print(
            f"{report.summary()}; platform retries {driver.retries}, "
            f"DingTalk redeliveries {stack.platforms.dingtalk.redeliveries}"
        )
        return report, driver.retries


async def test_a_replica_killed_mid_load_loses_no_message(
    redis_server: RedisServer, bundled_model_dir: Path
) -> None:
    async with Stack(redis_server.url, bundled_model_dir, redeliver_after_s=5) as stack:
        victim = stack.nodes[0]

        async def kill_mid_request(driver: Driver) -> None:
            # strike while it is answering a webhook (polls the driver's counter)
            while driver.in_flight[victim.url] == 0:  # noqa: ASYNC110
                await asyncio.sleep(0.001)
            victim.kill()

        report, retries = await _load_with_fault(stack, kill_mid_request)
        assert not victim.alive
        assert retries >= 1  # a webhook it was answering failed: the platform's retry path ran
        logs = stack.logs()
    assert report.messages == 240
    assert report.missing == 0, (report.problems, logs)
    # A reply the platform took just before the kill, not yet marked in the send ledger
    # (one Redis round trip), is the one way a crash can repeat a message; allow one.
    assert report.duplicates <= 1, report.problems


async def test_redis_restarted_mid_load_recovers_without_a_bot_restart(
    redis_server: RedisServer, bundled_model_dir: Path
) -> None:
    async with Stack(redis_server.url, bundled_model_dir, redeliver_after_s=5) as stack:
        pids = [node.process.pid for node in stack.nodes if node.process is not None]

        async def restart(driver: Driver) -> None:
            await asyncio.to_thread(redis_server.restart, 2)

        report, retries = await _load_with_fault(stack, restart)
        assert retries >= 1  # webhooks answered 503 while Redis was down
        assert all(node.alive for node in stack.nodes)
        assert [node.process.pid for node in stack.nodes if node.process is not None] == pids
        logs = stack.logs()
    assert report.messages == 240
    # Known gap (README, Limitations): a WeChat turn still running at the 4.5 s budget is
    # answered "success", so if it then fails (e.g. it waited out the outage) WeChat does not
    # retry and its reply is lost. Seen in 2 runs of 7, one message each time.
    assert report.missing <= 1, (report.problems, logs)
    # Turns that had sent their reply when Redis went away could not commit; their retry
    # skips the reply only if the ledger mark landed before the outage: allow one repeat.
    assert report.duplicates <= 1, report.problems
