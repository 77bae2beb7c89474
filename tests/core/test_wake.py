"""A freed conversation wakes its next waiter over pub/sub (bot/stores/wake.py).

The wake is checked at both ends, each on a condition: what the scripts that free
a conversation publish, and what a replica's listener does with a wake. That a
waiter still gets its turn when a wake is lost is the ordering tests' business
(they run with and without a listening replica).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from bot.runtime import Runtime
from bot.stores.ordering import Waiter
from bot.turn import Turn
from tests.core.test_pipeline import _runtime
from tests.helpers import command_calls, message, until

CONV = "test:acct:u1"


@pytest.fixture
async def wakes(
    redis_client: aioredis.Redis, make_runtime: Any
) -> AsyncIterator[tuple[Runtime, list[str]]]:
    """A started runtime, and the wakes published on its channel, as they arrive."""
    rt, _ = await _runtime(make_runtime)
    seen: list[str] = []
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(rt.keys.wake(rt.replica_id))

    async def read() -> None:
        while True:
            item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if item is not None:
                seen.append(item["data"].decode())

    reader = asyncio.create_task(read())
    yield rt, seen
    reader.cancel()
    await asyncio.gather(reader, return_exceptions=True)
    await pubsub.aclose()


async def _queue(rt: Runtime) -> list[bytes]:
    return list(await rt.redis.lrange(rt.keys.queue(CONV), 0, -1))


@pytest.mark.parametrize("free", ["release", "leave", "commit"])
async def test_freeing_a_conversation_wakes_the_head_of_its_queue(wakes, free) -> None:
    rt, seen = wakes
    let_go = await _hold(rt, free)
    task = asyncio.create_task(rt.order.acquire(CONV, "next"))
    await until(lambda: _queue_has(rt, "next"))
    head = (await _queue(rt))[0].decode()
    await let_go()
    await until(lambda: head in seen)
    await rt.order.release(await task)


async def _hold(rt: Runtime, free: str) -> Callable[[], Awaitable[Any]]:
    """Hold the conversation; the returned coroutine function frees it the ``free`` way."""
    if free == "commit":  # a turn holds the conversation and ends with its commit
        go_on = asyncio.Event()

        class Holding:
            async def respond(self, turn: Turn) -> None:
                await go_on.wait()
                turn.say("ok")

        rt.use(brain=Holding())
        turn = asyncio.create_task(rt.pipeline.handle(message("a", mid="m1"), rt.outbound))
        await until(lambda: rt.redis.exists(rt.keys.lock(CONV)))

        async def commit() -> None:
            go_on.set()
            await turn

        return commit
    lease = await rt.order.acquire(CONV, "agent")
    if free == "release":
        return lambda: rt.order.release(lease)
    # the holder gives up its place instead of releasing: leave() drops the lock it names
    waiter = Waiter(CONV, lease.token.rsplit("|", 1)[0], 0.0, lease)
    return lambda: rt.order.leave(waiter)


async def _queue_has(rt: Runtime, name: str) -> bool:
    return any(w.decode().endswith("/" + name) for w in await _queue(rt))


async def test_an_uncontended_turn_publishes_nothing(make_runtime, redis_client) -> None:
    rt, out = await _runtime(make_runtime)
    before = await command_calls(redis_client, "publish")
    await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert out.texts() == ["echo:hi"]
    assert await command_calls(redis_client, "publish") == before


async def test_a_wake_sets_the_named_waiter_only(make_runtime, redis_client) -> None:
    rt, _ = await _runtime(make_runtime)
    mine, other = rt.waker.expect("r/1"), rt.waker.expect("r/2")
    await until(lambda: rt.waker.subscribed.is_set())
    await redis_client.publish(rt.keys.wake(rt.replica_id), "r/1")
    await until(lambda: mine.is_set())
    assert not other.is_set()
    rt.waker.forget("r/1")
    rt.waker.forget("r/2")


async def test_a_waiter_finds_a_conversation_freed_without_a_wake(make_runtime) -> None:
    """A lock that expires publishes nothing: the waiter's own polls find the turn."""
    rt, _ = await _runtime(make_runtime)
    await until(lambda: rt.waker.subscribed.is_set())
    await rt.order.acquire(CONV, "agent")
    task = asyncio.create_task(rt.order.acquire(CONV, "next"))
    await until(lambda: _queue_has(rt, "next"))
    await rt.redis.delete(rt.keys.lock(CONV))  # as if its holder died and its TTL ran out
    lease = await asyncio.wait_for(task, 30)  # a guard against a hang only
    await rt.order.release(lease)
