"""A new message is claimed and queued for its conversation in one script.

The place taken with the claim must never outlive the turn: a rate-limited or
failed turn gives it back at once, a lost answer neither strands it nor turns
the message into a retry, and a turn that cannot commit still records the
reply it sent last.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.errors import LockTimeout
from bot.pipeline import Pipeline
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import RateLimitRule, Settings
from bot.steps import default_steps
from bot.stores.ratelimit import RateLimiter
from bot.stores.sent import SendLedger
from bot.turn import Outcome, Turn
from tests.conftest import TEARDOWN_GUARD_S
from tests.core.test_pipeline import SlowEcho, _runtime
from tests.fakes.redis_proxy import AnswerLosingProxy
from tests.helpers import RecordingChannel, command_calls, message, until

CONV = "test:acct:u1"
STRICT = RateLimitRule(per_minute=60, burst=1)


async def _place_of(rt: Runtime, conversation: str = CONV) -> tuple[Any, list[Any]]:
    """The lock's value and the queue of a conversation."""
    lock = await rt.redis.get(rt.keys.lock(conversation))
    return lock, await rt.redis.lrange(rt.keys.queue(conversation), 0, -1)


@pytest.mark.parametrize("notice", [True, False])
async def test_a_rate_limited_message_gives_the_free_conversation_back(
    make_runtime, notice
) -> None:
    rt, _ = await _runtime(make_runtime, rate_limit=STRICT)
    await rt.pipeline.handle(message("a", mid="m1"), rt.outbound)
    if not notice:  # the one notice of the window has gone out already
        await rt.pipeline.handle(message("b", mid="m2"), rt.outbound)
    turn = await rt.pipeline.handle(message("c", mid="m3"), rt.outbound)
    assert turn.outcome is Outcome.RATE_LIMITED
    assert await _place_of(rt) == (None, [])
    assert await rt.redis.get(rt.keys.dedupe(CONV, "m3")) == b"d"  # done: a retry is silent


async def test_a_rate_limited_message_leaves_the_queue_of_a_busy_conversation(
    make_runtime,
) -> None:
    rt, _ = await _runtime(make_runtime, rate_limit=STRICT)
    await rt.pipeline.handle(message("a", mid="m1"), rt.outbound)
    agent = await rt.order.acquire(CONV, "agent")  # someone else holds the conversation
    turn = await rt.pipeline.handle(message("b", mid="m2"), rt.outbound)
    assert turn.outcome is Outcome.RATE_LIMITED
    assert await _place_of(rt) == (agent.token.encode(), [])
    await rt.order.release(agent)


async def test_a_message_queued_with_its_claim_runs_once_the_holder_leaves(make_runtime) -> None:
    rt, out = await _runtime(make_runtime)
    agent = await rt.order.acquire(CONV, "agent")
    task = asyncio.create_task(rt.pipeline.handle(message("hi", mid="m1"), rt.outbound))
    await until(lambda: _queued(rt))
    assert not task.done()
    await rt.order.release(agent)
    turn = await task
    assert turn.outcome is Outcome.REPLIED and not turn.retry
    assert out.texts() == ["echo:hi"]
    assert await _place_of(rt) == (None, [])


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
async def test_a_waiter_that_stops_waiting_leaves_the_queue(make_runtime, stop) -> None:
    """Left behind, its place would hold up the conversation until it went stale."""
    rt, _ = await _runtime(make_runtime, lock_wait_ms=100 if stop == "timeout" else 60_000)
    agent = await rt.order.acquire(CONV, "agent")
    waiting = asyncio.create_task(rt.order.acquire(CONV, "staff"))
    await until(lambda: _queued(rt))
    if stop == "cancel":
        waiting.cancel()
    with pytest.raises((LockTimeout, asyncio.CancelledError)):
        await waiting
    assert await _place_of(rt) == (agent.token.encode(), [])
    await rt.order.release(agent)


async def _queued(rt: Runtime) -> bool:
    return bool(await rt.redis.llen(rt.keys.queue(CONV)))


async def test_a_step_failing_before_the_conversation_gives_the_place_back(
    make_runtime,
) -> None:
    """A failure between the claim and the conversation step: place and claim both released."""
    rt, out = await _runtime(make_runtime)
    failures = [RuntimeError("rule lookup failed")]

    def rule_for(platform: str) -> RateLimitRule:
        if failures:
            raise failures.pop()
        return rt.settings.rate_limit_for(platform)

    steps = default_steps(
        platforms=rt.outbound.platforms,
        deduper=rt.deduper,
        limiter=RateLimiter(rt.redis, rt.keys),
        rule_for=rule_for,
        order=rt.order,
        contexts=rt.contexts,
        done_ttl_s=rt.settings.dedupe_ttl_s,
        route=rt.route,
        records=rt.records,
        ledger=SendLedger(rt.redis, rt.keys, ttl_s=rt.settings.dedupe_ttl_s),
    )
    pipeline = Pipeline(steps)
    first = await pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert first.outcome is Outcome.FAILED
    assert await _place_of(rt) == (None, [])
    retry = await pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert retry.outcome is Outcome.REPLIED and retry.retry
    assert out.texts() == ["echo:hi"]


class LosesTheLock(SlowEcho):
    """Answers, then the conversation lock expires under the turn before it commits."""

    def __init__(self, redis: aioredis.Redis, lock_key: str) -> None:
        super().__init__()
        self._redis, self._lock = redis, lock_key
        self.armed = True

    async def respond(self, turn: Turn) -> None:
        await super().respond(turn)
        if self.armed:
            self.armed = False
            await self._redis.delete(self._lock)  # as a lock TTL running out would


async def test_a_turn_that_cannot_commit_still_records_its_last_reply(make_runtime) -> None:
    """The last reply's ledger mark rides on the commit; fenced out, it is written anyway."""
    rt = await make_runtime()
    channel = RecordingChannel()
    rt.add_channels([channel])
    rt.use(brain=LosesTheLock(rt.redis, rt.keys.lock(CONV)))
    first = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert first.outcome is Outcome.FAILED  # FencedOut: nothing saved, message released
    assert await rt.redis.smembers(rt.keys.sent(CONV, "m1")) == {b"0"}
    retry = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert retry.outcome is Outcome.REPLIED and retry.retry
    assert channel.outbound.texts() == ["echo:hi"]  # not sent twice


@pytest.fixture
async def proxy(redis_target: dict[str, Any]) -> AsyncIterator[AnswerLosingProxy]:
    proxy = AnswerLosingProxy(redis_target)
    await proxy.start()
    yield proxy
    await proxy.stop()


async def _proxied(
    proxy: AnswerLosingProxy, redis_target: dict[str, Any], settings: Settings, *, resend: bool
) -> tuple[Runtime, RecordingChannel]:
    db = int(urlparse(redis_target.get("url", "")).path.strip("/") or 0)
    if resend:  # redis-py's default: a command whose answer was lost is sent again
        client = aioredis.Redis(port=proxy.port, db=db)
    else:
        client = aioredis.Redis(port=proxy.port, db=db, retry=Retry(NoBackoff(), 0))
    rt = Runtime(settings, RedisHandle(client, "proxied"))
    channel = RecordingChannel()
    rt.add_channels([channel])
    rt.use(brain=SlowEcho())
    # a first turn loads the scripts: the answer lost is then that of a script that ran
    await rt.pipeline.handle(message("warm", mid="w1", user="warm"), rt.outbound)
    channel.outbound.sent.clear()
    return rt, channel


async def test_a_lost_answer_to_the_claim_is_resent_and_the_turn_goes_on(
    proxy, redis_target, redis_client, settings
) -> None:
    """redis-py sends the script again: it finds its own claim and place, and carries on.

    A lock held by its own lost waiter would block the turn for the lock's TTL, so the
    TTL is made far longer than the wait: a stranded waiter would fail the turn.
    """
    s = settings.model_copy(update={"lock_ttl_ms": 600_000, "lock_wait_ms": 5_000})
    rt, channel = await _proxied(proxy, redis_target, s, resend=True)
    try:
        proxy.lose_answer_to(b"dd:{" + CONV.encode() + b"}:m1")
        turn = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
        assert proxy.lost == 1
        assert turn.outcome is Outcome.REPLIED and not turn.retry
        assert channel.outbound.texts() == ["echo:hi"]
        assert await _place_of(rt) == (None, [])
    finally:
        await asyncio.wait_for(rt.redis.aclose(), TEARDOWN_GUARD_S)


async def test_redis_gone_after_the_claim_ran_frees_everything_once_back(
    proxy, redis_target, redis_client, settings
) -> None:
    """No resend and Redis unreachable: the turn is unavailable, and the writes replayed
    once Redis is back undo what the script did (the claim, the lock)."""
    rt, channel = await _proxied(proxy, redis_target, settings, resend=False)
    try:
        proxy.lose_answer_to(b"dd:{" + CONV.encode() + b"}:m1", then_down=True)
        turn = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
        assert turn.outcome is Outcome.UNAVAILABLE and proxy.lost == 1
        marker = rt.keys.dedupe(CONV, "m1")
        assert await redis_client.get(rt.keys.lock(CONV)) is not None  # the script ran
        assert (await redis_client.get(marker) or b"").startswith(b"p:")
        proxy.up()
        await rt.deferred.replay()
        assert await _place_of(rt) == (None, [])
        assert await redis_client.get(marker) == b"r"  # released: the retry is ours
        retry = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
        assert retry.outcome is Outcome.REPLIED and retry.retry
        assert channel.outbound.texts() == ["echo:hi"]
    finally:
        await asyncio.wait_for(rt.redis.aclose(), TEARDOWN_GUARD_S)


class FailsWhileRedisIsDown(SlowEcho):
    """The first attempt fails as Redis goes away, so its releases cannot land."""

    def __init__(self, proxy: AnswerLosingProxy) -> None:
        super().__init__()
        self.proxy = proxy
        self.rt: Runtime | None = None
        self.during_retry: tuple[Any, Any] = (None, None)

    async def respond(self, turn: Turn) -> None:
        assert self.rt is not None
        if not turn.retry:
            self.proxy.go_down()
            raise RuntimeError("failed, and Redis went away with it")
        marker = await self.rt.redis.get(self.rt.keys.dedupe(CONV, turn.message.message_id))
        lock = await self.rt.redis.get(self.rt.keys.lock(CONV))
        self.during_retry = (marker, lock)
        await super().respond(turn)


async def test_writes_replayed_during_a_retry_on_the_same_replica_leave_it_alone(
    proxy, redis_target, redis_client, settings
) -> None:
    """The retry claims the message again while the failed attempt's lock still blocks it;
    then the heartbeat replays the failed attempt's releases: the old lock goes, and the
    retry keeps its claim (the marker names the replica, so only the idle check saves it)."""
    rt, channel = await _proxied(proxy, redis_target, settings, resend=False)
    brain = FailsWhileRedisIsDown(proxy)
    brain.rt = rt
    rt.use(brain=brain)
    try:
        first = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
        assert first.outcome is Outcome.FAILED
        assert len(rt.deferred) == 2  # the lock's release and the claim's, kept
        proxy.up()
        retry_task = asyncio.create_task(rt.pipeline.handle(message("hi", mid="m1"), rt.outbound))
        await until(lambda: _queued(rt))  # claimed again, waiting behind the stale lock
        await rt.deferred.replay()  # what the heartbeat does once Redis answers
        retry = await retry_task
        assert retry.outcome is Outcome.REPLIED and retry.retry
        assert len(rt.deferred) == 0
        marker, lock = brain.during_retry
        assert marker is not None and marker.startswith(b"p:")  # still claimed by the retry
        assert retry.lease is not None and lock == retry.lease.token.encode()
        assert await redis_client.get(rt.keys.dedupe(CONV, "m1")) == b"d"
        assert channel.outbound.texts() == ["echo:hi"]
    finally:
        await asyncio.wait_for(rt.redis.aclose(), TEARDOWN_GUARD_S)


async def test_a_second_delivery_heard_before_the_first_is_not_taken_for_a_lost_release(
    proxy, redis_target, redis_client, settings
) -> None:
    """Two deliveries of one message on one replica, the first one's claim answered late:
    the second finds a marker naming this replica that nothing here works on yet. It
    must wait for the first, not process the message a second time."""
    rt, channel = await _proxied(proxy, redis_target, settings, resend=False)
    proxy.hold_answer_to(b":m8")  # the first claim runs in Redis; its answer waits
    first = asyncio.create_task(rt.pipeline.handle(message("hi", mid="m8"), rt.outbound))
    await until(lambda: redis_client.exists(rt.keys.dedupe(CONV, "m8")))
    before = await command_calls(redis_client, "evalsha")
    second = asyncio.create_task(rt.pipeline.handle(message("hi", mid="m8"), rt.outbound))
    # its claim script has run while the first's answer is held (a second delivery taken
    # for a retry would process the message whenever the first is released)
    await until(lambda: _scripts_since(redis_client, before))
    proxy.release()
    outcomes = sorted([(await first).outcome, (await second).outcome])
    assert outcomes == sorted([Outcome.REPLIED, Outcome.DUPLICATE])
    assert channel.outbound.texts() == ["echo:hi"]
    await asyncio.wait_for(rt.redis.aclose(), TEARDOWN_GUARD_S)


async def _scripts_since(redis_client: aioredis.Redis, before: int) -> bool:
    return await command_calls(redis_client, "evalsha") > before


class Gated:
    """Echo brain that waits for ``go`` before answering; ``inside`` says it got there."""

    def __init__(self) -> None:
        self.inside = asyncio.Event()
        self.go = asyncio.Event()

    async def respond(self, turn: Turn) -> None:
        self.inside.set()
        await self.go.wait()
        turn.say(f"echo:{turn.message.text}")


async def test_a_second_delivery_heard_after_the_first_ended_is_a_duplicate(
    proxy, redis_target, redis_client, settings
) -> None:
    """The other order: the second delivery's claim reads the marker while the first is
    being handled, and its answer arrives after the first has finished. The marker it
    read is stale (now done): it must not be taken for a release Redis missed."""
    rt, channel = await _proxied(proxy, redis_target, settings, resend=False)
    brain = Gated()
    rt.use(brain=brain)
    first = asyncio.create_task(rt.pipeline.handle(message("hi", mid="m7"), rt.outbound))
    await brain.inside.wait()
    proxy.hold_answer_to(b":m7")  # the second claim reads 'p:<this replica>'; held
    before = await command_calls(redis_client, "evalsha")
    second = asyncio.create_task(rt.pipeline.handle(message("hi", mid="m7"), rt.outbound))
    await until(lambda: _scripts_since(redis_client, before))
    brain.go.set()
    assert (await first).outcome is Outcome.REPLIED
    assert await redis_client.get(rt.keys.dedupe(CONV, "m7")) == b"d"
    proxy.release()
    assert (await second).outcome is Outcome.DUPLICATE
    assert channel.outbound.texts() == ["echo:hi"]
    await asyncio.wait_for(rt.redis.aclose(), TEARDOWN_GUARD_S)
