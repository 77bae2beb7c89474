"""What one turn costs in Redis commands, counted by Redis itself (MONITOR), not timed.

Commands that scripts run inside Redis are left out: each script call is one
command and one round trip. Every key of these turns carries a prefix unique to
the test, so other clients of a shared Redis do not count.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import RateLimitRule, Settings
from bot.turn import Outcome, Turn
from tests.conftest import TEARDOWN_GUARD_S, make_client
from tests.helpers import RecordingChannel, message, until


class Replies:
    """A brain that answers with ``count`` replies."""

    def __init__(self, count: int = 1) -> None:
        self.count = count

    async def respond(self, turn: Turn) -> None:
        for i in range(self.count):
            turn.say(f"reply {i}")


class CommandLog:
    """Redis's MONITOR feed, kept while open; script-internal commands left out."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self.commands: list[str] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> CommandLog:
        self._monitor = await self._client.monitor().__aenter__()
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._monitor.__aexit__(*exc)

    async def _read(self) -> None:
        async for entry in self._monitor.listen():
            command = str(entry["command"])
            if entry.get("client_type") != "lua" and self._prefix in command:
                self.commands.append(command)

    async def during(self, rt: Runtime, work: Any) -> list[str]:
        """The commands ``work`` (a coroutine) sent, in order, names only."""
        start, end = f"{self._prefix}:mark:{uuid.uuid4().hex}", f"{self._prefix}:end"
        await rt.redis.exists(start)
        await until(lambda: any(start in c for c in self.commands))
        await work
        await rt.redis.exists(end)
        await until(lambda: any(c.endswith(end) for c in self.commands))
        first = next(i for i, c in enumerate(self.commands) if start in c)
        last = max(i for i, c in enumerate(self.commands) if c.endswith(end))
        sent = self.commands[first + 1 : last]
        del self.commands[:]
        return [c.split()[0].upper() for c in sent]


@pytest.fixture
async def counted(
    redis_client: aioredis.Redis, redis_target: dict[str, Any], settings: Settings
) -> AsyncIterator[tuple[Runtime, CommandLog]]:
    """A runtime that is not started (no heartbeat in the count) and a command log."""
    prefix = f"rt{uuid.uuid4().hex[:8]}"
    s = settings.model_copy(
        update={"redis_prefix": prefix, "rate_limit": RateLimitRule(per_minute=60, burst=2)}
    )
    rt = Runtime(s, RedisHandle(make_client(redis_target), "test"))
    rt.add_channels([RecordingChannel()])
    rt.use(brain=Replies())
    # a first turn loads the scripts, so the counts below are the steady state
    await rt.pipeline.handle(message("warm", mid="w1", user="warm"), rt.outbound)
    async with CommandLog(redis_client, prefix) as log:
        yield rt, log
    await asyncio.wait_for(rt.redis.aclose(), TEARDOWN_GUARD_S)


async def test_a_new_message_costs_three_round_trips(counted) -> None:
    """Claim+acquire+context (one script), rate limit, commit (save+done+release)."""
    rt, log = counted
    turn = rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert await log.during(rt, turn) == ["EVALSHA", "EVALSHA", "EVALSHA"]


async def test_each_reply_but_the_last_adds_one_round_trip(counted) -> None:
    """The send-ledger mark (SADD and EXPIRE, pipelined); the commit makes the last one moot."""
    rt, log = counted
    rt.use(brain=Replies(3))
    turn = rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    marks = ["SADD", "EXPIRE"] * 2
    assert await log.during(rt, turn) == ["EVALSHA", "EVALSHA", *marks, "EVALSHA"]


async def test_a_duplicate_costs_one(counted) -> None:
    """The claim script answers with the marker it found: no GET follows."""
    rt, log = counted
    await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    outcomes: list[Outcome] = []

    async def again() -> None:
        outcomes.append((await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)).outcome)

    assert await log.during(rt, again()) == ["EVALSHA"]
    assert outcomes == [Outcome.DUPLICATE]


async def test_a_silently_dropped_message_costs_three(counted) -> None:
    """Over the limit after its one notice: claim+acquire, rate limit, leave+done."""
    rt, log = counted
    for i in range(3):  # burst 2, then the one notice
        await rt.pipeline.handle(message("hi", mid=f"m{i}"), rt.outbound)
    dropped = rt.pipeline.handle(message("hi", mid="m9"), rt.outbound)
    assert await log.during(rt, dropped) == ["EVALSHA", "EVALSHA", "EVALSHA"]


async def test_the_counted_turns_did_their_work(counted) -> None:
    """The counts above are of turns that replied and saved, not of turns that stopped early."""
    rt, _ = counted
    turn = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert turn.outcome is Outcome.REPLIED and turn.committed
    ctx = await rt.contexts.load(turn.conversation)
    assert [h["text"] for h in ctx.history] == ["hi", "reply 0"]
