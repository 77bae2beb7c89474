"""Pace outbound sends per platform and destination, across replicas.

Platforms cap how fast a bot may post (Slack's ``chat.postMessage`` about one
message per second per channel; a DingTalk group robot about twenty per
minute). Each platform plug-in declares its pace (``Limits.send_pace``) and the
runtime registers it here. Every replica shares one GCRA state per destination
in Redis, so two replicas together still keep to the cap. A send waits for its
slot rather than being dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from bot import metrics
from bot.settings import RateLimitRule
from bot.stores.ratelimit import RateLimiter

Sleep = Callable[[float], Awaitable[None]]


class OutboundThrottle:
    """``await throttle.wait(platform, destination)`` before each platform API send."""

    def __init__(
        self,
        limiter: RateLimiter,
        *,
        rules: Mapping[str, RateLimitRule] | None = None,
        max_wait_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._limiter = limiter
        self._rules = dict(rules or {})
        self._max_wait_s = max_wait_s
        self._sleep = sleep

    def set_rule(self, platform: str, rule: RateLimitRule) -> None:
        """Pace ``platform``'s sends by ``rule`` (a platform without one is not paced)."""
        self._rules[platform] = rule

    async def wait(self, platform: str, destination: str) -> float:
        """Block until a send to ``destination`` is within the platform's pace; seconds waited.

        Past ``max_wait_s`` the send goes ahead anyway: the platform's own 429
        (retried by the transport) is the last line, and a reply is never dropped here.
        """
        rule = self._rules.get(platform)
        if rule is None:
            return 0.0
        started = time.monotonic()
        decision = await self._limiter.hit(f"out:{platform}", destination, rule)
        if decision.allowed:
            return 0.0
        while True:
            left = self._max_wait_s - (time.monotonic() - started)
            await self._sleep(min(max(decision.retry_after_ms, 5) / 1000, max(left, 0.0)))
            decision = await self._limiter.hit(f"out:{platform}", destination, rule)
            waited = time.monotonic() - started
            if decision.allowed or waited >= self._max_wait_s:
                metrics.OUTBOUND_WAIT.labels(platform).observe(waited)
                return waited
