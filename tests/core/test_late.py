"""A turn acknowledged before it ended and then failed is run again by its replica.

Platforms redeliver only what was not acknowledged; these are the messages they
will never send again (bot/late.py). The WeChat test of the same covers the
passive-reply budget; these go through :meth:`Host.settle`, as Slack, DingTalk
and Feishu do.
"""

from __future__ import annotations

import asyncio
import logging

from bot.turn import Turn
from tests.helpers import RecordingChannel, message, settled, until


class Fails:
    """Fails its first ``times`` turns once ``go`` is set; answers after that."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.go = asyncio.Event()
        self.calls = 0

    async def respond(self, turn: Turn) -> None:
        self.calls += 1
        await self.go.wait()
        if self.calls <= self.times:
            raise RuntimeError("backend went away")
        turn.say(f"echo:{turn.message.text}")


async def _bot(make_runtime, brain: Fails, **settings: object):
    rt = await make_runtime(late_retry_s=0.01, **settings)
    channel = RecordingChannel()
    rt.add_channels([channel])
    rt.use(brain=brain)
    return rt, channel, rt.host("test")


async def test_a_turn_acked_at_the_budget_that_fails_is_answered_by_a_rerun(make_runtime) -> None:
    brain = Fails(times=2)
    rt, channel, host = await _bot(make_runtime, brain)
    task = host.submit(message("hi", mid="m1"), channel.outbound)
    assert not await host.settle([task], 0.0)  # budget spent, turn running: acked
    brain.go.set()
    await until(lambda: channel.outbound.texts() == ["echo:hi"])
    await settled(rt)
    assert brain.calls == 3 and channel.outbound.texts() == ["echo:hi"]


async def test_a_turn_that_failed_within_the_budget_is_left_to_the_platform(make_runtime) -> None:
    brain = Fails(times=1)
    brain.go.set()
    rt, channel, host = await _bot(make_runtime, brain)
    task = host.submit(message("hi", mid="m1"), channel.outbound)
    assert await host.settle([task], 60.0)  # failed in time: the adapter asks for a retry
    await settled(rt)
    assert brain.calls == 1 and channel.outbound.texts() == []


async def test_attempts_spent_are_logged_as_an_error(make_runtime, caplog) -> None:
    brain = Fails(times=100)
    rt, channel, host = await _bot(make_runtime, brain, late_retries=2)
    task = host.submit(message("hi", mid="m1"), channel.outbound)
    assert not await host.settle([task], 0.0)
    with caplog.at_level(logging.ERROR, logger="bot.late"):
        brain.go.set()
        await until(lambda: "given up" in caplog.text)
    await settled(rt)
    assert brain.calls == 3 and channel.outbound.texts() == []
