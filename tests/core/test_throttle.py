"""Outbound pacing shared by replicas, against real Redis."""

from __future__ import annotations

import asyncio
import time

from bot.keys import Keys
from bot.settings import RateLimitRule
from bot.stores.ratelimit import RateLimiter
from bot.stores.throttle import OutboundThrottle


async def test_two_replicas_share_one_channel_pace(redis_client) -> None:
    rule = {"slack": RateLimitRule(per_minute=600, burst=2)}  # 10/s, burst 2
    a = OutboundThrottle(RateLimiter(redis_client, Keys("t")), rules=rule)
    b = OutboundThrottle(RateLimiter(redis_client, Keys("t")), rules=rule)
    started = time.monotonic()
    await asyncio.gather(*(t.wait("slack", "C1") for t in [a, b] * 4))  # 8 sends
    elapsed = time.monotonic() - started
    # burst 2 go at once; the other 6 are spaced 0.1 s apart
    assert 0.5 <= elapsed < 2.0


async def test_other_channels_and_platforms_are_not_slowed(redis_client) -> None:
    rule = {"slack": RateLimitRule(per_minute=60, burst=1)}
    t = OutboundThrottle(RateLimiter(redis_client, Keys("t")), rules=rule)
    assert await t.wait("slack", "C1") == 0.0
    assert await t.wait("slack", "C2") == 0.0
    assert await t.wait("web", "anything") == 0.0


async def test_a_send_is_never_dropped_past_max_wait(redis_client) -> None:
    rule = {"slack": RateLimitRule(per_minute=1, burst=1)}
    t = OutboundThrottle(RateLimiter(redis_client, Keys("t")), rules=rule, max_wait_s=0.2)
    await t.wait("slack", "C1")
    waited = await t.wait("slack", "C1")
    assert 0.2 <= waited < 1.0
