"""The pipeline end to end against real Redis, with a trivial brain."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
import redis.asyncio as aioredis

from bot.errors import DeliveryError
from bot.models import MessageKind
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import RateLimitRule
from bot.turn import Outcome, Turn
from tests.helpers import RecordingChannel, message, until


class SlowEcho:
    """Echo brain that takes a while and records what it processed, in order."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.seen: list[str] = []

    async def respond(self, turn: Turn) -> None:
        if turn.message.text == self.fail_on:
            self.fail_on = None  # fail once, as a crash would
            raise RuntimeError("boom")
        await asyncio.sleep(self.delay)
        self.seen.append(turn.message.text)
        turn.say(f"echo:{turn.message.text}")


async def _runtime(make_runtime, brain=None, **overrides):
    rt = await make_runtime(**overrides)
    channel = RecordingChannel()
    rt.add_channels([channel])
    rt.use(brain=brain or SlowEcho())
    return rt, channel.outbound


async def test_one_message_one_reply(make_runtime) -> None:
    rt, out = await _runtime(make_runtime)
    turn = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert turn.outcome is Outcome.REPLIED
    assert out.texts() == ["echo:hi"]


async def test_retry_of_done_message_gets_no_second_reply(make_runtime) -> None:
    rt, out = await _runtime(make_runtime)
    await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    again = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert again.outcome is Outcome.DUPLICATE
    assert out.texts() == ["echo:hi"]


async def test_crashed_message_is_processed_again_on_retry(make_runtime) -> None:
    brain = SlowEcho(fail_on="hi")
    rt, out = await _runtime(make_runtime, brain)
    first = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert first.outcome is Outcome.FAILED and first.outcome.retry_helps
    retry = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert retry.outcome is Outcome.REPLIED
    assert out.texts() == ["echo:hi"]


async def test_message_of_a_dead_replica_is_taken_over(make_runtime, redis_client) -> None:
    dead, _ = await _runtime(make_runtime)
    alive, out = await _runtime(make_runtime)
    # The dead replica claimed the message, then its process vanished.
    await dead.deduper.claim("test:acct:u1", "m1")
    await redis_client.delete(dead.keys.replica(dead.replica_id))
    turn = await alive.pipeline.handle(message("hi", mid="m1"), alive.outbound)
    assert turn.outcome is Outcome.REPLIED
    assert out.texts() == ["echo:hi"]


async def test_message_in_flight_on_a_live_replica_is_not_repeated(make_runtime) -> None:
    """The retry waits for the live replica to finish, then is acknowledged as a duplicate."""
    a, out_a = await _runtime(make_runtime, SlowEcho(delay=0.2))
    b, out_b = await _runtime(make_runtime, SlowEcho(delay=0.2))
    ta, tb = await asyncio.gather(
        a.pipeline.handle(message("hi", mid="m1"), a.outbound),
        b.pipeline.handle(message("hi", mid="m1"), b.outbound),
    )
    assert sorted([ta.outcome, tb.outcome]) == sorted([Outcome.REPLIED, Outcome.DUPLICATE])
    assert len(out_a.sent) + len(out_b.sent) == 1


async def test_a_failed_release_is_retried_and_never_blocks_the_retry(make_runtime) -> None:
    """Redis missed the release of a failed turn: the same replica's retry takes it again."""
    rt, out = await _runtime(make_runtime)
    await rt.deduper.claim("test:acct:u1", "m9")  # claimed ...
    rt.deduper.finished("test:acct:u1", "m9")  # ... and the turn died without releasing
    turn = await rt.pipeline.handle(message("hi", mid="m9"), rt.outbound)
    assert turn.outcome is Outcome.REPLIED
    assert out.texts() == ["echo:hi"]


async def test_two_replicas_duplicates_out_of_order_exactly_once_in_order(make_runtime) -> None:
    """Two pipelines, separate connections, one Redis; every message sent twice."""
    ra, out_a = await _runtime(make_runtime, SlowEcho(delay=0.01))
    rb, out_b = await _runtime(make_runtime, SlowEcho(delay=0.01))
    rng = random.Random(7)
    conversations = [f"c{i}" for i in range(6)]
    per_conv = 5

    def send(conv: str, i: int, replica) -> asyncio.Task:
        msg = message(f"{conv}-{i}", mid=f"{conv}-m{i}", user=conv)
        return asyncio.create_task(replica.pipeline.handle(msg, replica.outbound))

    async def conversation(conv: str) -> None:
        pairs = [rng.sample([ra, rb], 2) for _ in range(per_conv)]
        turns = []
        for i, (first, _) in enumerate(pairs):
            turns.append(send(conv, i, first))
            # Order is that of arrival in Redis, so the next first copy goes out only once
            # this one's claim is there: a condition, whatever the machine's load.
            address = message("", mid="", user=conv).address.key
            marker = ra.keys.dedupe(address, f"{conv}-m{i}")
            await until(lambda key=marker: ra.redis.exists(key))
        # The duplicates come after, shuffled, on the other replica, while turns still run.
        again = [(i, second) for i, (_, second) in enumerate(pairs)]
        rng.shuffle(again)
        turns += [send(conv, i, second) for i, second in again]
        await asyncio.gather(*turns)

    await asyncio.gather(*(conversation(conv) for conv in conversations))

    sent = out_a.sent + out_b.sent
    assert len(sent) == len(conversations) * per_conv  # exactly once
    for conv in conversations:
        replies = sorted(
            ((a, r) for a, r in sent if a.conversation_id == conv), key=lambda ar: ar[1].text
        )
        assert [r.text for _, r in replies] == [f"echo:{conv}-{i}" for i in range(per_conv)]
        processed = [t for t in ra.route.brain.seen + rb.route.brain.seen if t.startswith(conv)]
        assert len(processed) == per_conv
    for brain in (ra.route.brain, rb.route.brain):
        for conv in conversations:
            mine = [t for t in brain.seen if t.startswith(conv + "-")]
            assert mine == sorted(mine), f"{conv} out of order on one replica: {mine}"


async def test_conversation_order_is_arrival_order_across_replicas(make_runtime) -> None:
    log: list[str] = []

    class Recorder(SlowEcho):
        async def respond(self, turn: Turn) -> None:
            log.append(turn.message.text)
            await asyncio.sleep(0.03)
            turn.say("ok")

    generous = RateLimitRule(per_minute=6000, burst=100)
    ra, _ = await _runtime(make_runtime, Recorder(), rate_limit=generous)
    rb, _ = await _runtime(make_runtime, Recorder(), rate_limit=generous)

    first = message("0", mid="m0", user="same")
    queue = ra.keys.queue(first.address.key)

    async def registered(n: int) -> bool:
        # running or done (logged) plus waiting (queued): the lock's holder has left the
        # queue, so no message is counted twice, and only a message in Redis is counted
        return len(log) + int(await ra.redis.llen(queue)) >= n

    turns = []
    for i in range(8):
        rt = (ra, rb)[i % 2]
        msg = message(str(i), mid=f"m{i}", user="same")
        turns.append(asyncio.create_task(rt.pipeline.handle(msg, rt.outbound)))
        # the next message is sent only once this one has arrived: arrival order is
        # then known, whatever the machine's load
        await until(lambda n=i + 1: registered(n))
    await asyncio.gather(*turns)
    assert log == [str(i) for i in range(8)]


async def test_different_conversations_run_in_parallel(make_runtime) -> None:
    """Ten conversations' turns are all inside the brain at once: serialised, none would
    leave it, so the test would fail on its guard rather than on a clock."""

    class Gathering(SlowEcho):
        async def respond(self, turn: Turn) -> None:
            self.seen.append(turn.message.text)
            await until(lambda: len(self.seen) == 10)
            turn.say("ok")

    rt, out = await _runtime(make_runtime, Gathering())
    await asyncio.gather(
        *(
            rt.pipeline.handle(message("x", mid=f"m{i}", user=f"u{i}"), rt.outbound)
            for i in range(10)
        )
    )
    assert len(out.sent) == 10


@pytest.mark.parametrize(
    ("text", "platform", "outcome"),
    [
        ("", "test", Outcome.REJECTED),
        ("   ", "test", Outcome.REJECTED),
        ("hi", "nope", Outcome.REJECTED),
    ],
)
async def test_bad_input_is_rejected_and_logged(
    make_runtime, caplog, text, platform, outcome
) -> None:
    caplog.set_level(logging.INFO)
    rt, out = await _runtime(make_runtime)
    turn = await rt.pipeline.handle(message(text, mid="m1", platform=platform), rt.outbound)
    assert turn.outcome is outcome
    assert out.sent == []
    assert caplog.records, "a rejected message is logged"


async def test_oversized_text_gets_a_notice_not_an_exception(make_runtime) -> None:
    rt, out = await _runtime(make_runtime)
    turn = await rt.pipeline.handle(message("长" * 100_000, mid="m1"), rt.outbound)
    assert turn.outcome is Outcome.REPLIED
    assert "太长" in out.texts()[0]
    ctx = await rt.contexts.load("test:acct:u1")
    assert len(ctx.history[0]["text"]) == rt.settings.max_text_chars


async def test_media_gets_a_text_only_notice(make_runtime) -> None:
    rt, out = await _runtime(make_runtime)
    await rt.pipeline.handle(message("", mid="m1", kind=MessageKind.MEDIA), rt.outbound)
    assert "文字" in out.texts()[0]


async def test_redis_down_is_unavailable_not_a_crash(settings) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    rt = Runtime(settings, RedisHandle(dead, "dead"))
    channel = RecordingChannel()
    rt.add_channels([channel])
    turn = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert turn.outcome is Outcome.UNAVAILABLE and turn.outcome.retry_helps
    assert channel.outbound.sent == []
    assert not await rt.ready()
    await dead.aclose()


class TwoReplies(SlowEcho):
    async def respond(self, turn: Turn) -> None:
        turn.say(f"first:{turn.message.text}")
        turn.say(f"second:{turn.message.text}")


async def test_a_retried_turn_never_sends_a_reply_twice(make_runtime) -> None:
    """The first attempt delivers reply 1, then the platform refuses reply 2 (the turn fails).

    The platform's retry runs the turn again: the send ledger skips reply 1.
    """
    rt, out = await _runtime(make_runtime, TwoReplies())
    deliver = out.deliver
    refusals = 1

    async def refuse_second_once(address, replies) -> None:
        nonlocal refusals
        if replies[0].text.startswith("second") and refusals:
            refusals -= 1
            raise DeliveryError("platform said 500", platform="test", retryable=True)
        await deliver(address, replies)

    out.deliver = refuse_second_once  # type: ignore[method-assign]
    first = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert first.outcome is Outcome.FAILED and out.texts() == ["first:hi"]
    retry = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert retry.outcome is Outcome.REPLIED and retry.retry
    assert out.texts() == ["first:hi", "second:hi"]
    again = await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    assert again.outcome is Outcome.DUPLICATE
    assert out.texts() == ["first:hi", "second:hi"]
