"""Per-user rate limit: GCRA in one Lua script, so it holds across replicas.

GCRA keeps one timestamp per user (the "theoretical arrival time"). A user may
send ``burst`` messages at once and ``per_minute`` sustained. Over the limit,
the first rejected message in a window is flagged ``notify`` so the user gets
one polite notice, and later ones are dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.keys import Keys
from bot.settings import RateLimitRule

# KEYS: state, notice.  ARGV: emission interval ms, burst, notice window ms.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = interval * (tonumber(ARGV[2]) - 1)
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if now < tat - tolerance then
  local notify = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3])
  return {0, notify and 1 or 0, tat - tolerance - now}
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now + 1000)
return {1, 0, 0}
"""


@dataclass(frozen=True, slots=True)
class RateDecision:
    """``allowed``; if not, whether to send the one notice and when to retry."""

    allowed: bool
    notify: bool = False
    retry_after_ms: int = 0


class RateLimiter:
    """GCRA limiter keyed by platform and user."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, notice_window_ms: int = 60_000):
        self._keys = keys
        self._script = redis.register_script(_GCRA)
        self._notice_ms = notice_window_ms

    async def hit(self, platform: str, user: str, rule: RateLimitRule) -> RateDecision:
        """Count one message from ``user``; tell whether it may go on."""
        interval = max(1, 60_000 // rule.per_minute)
        allowed, notify, retry = await self._script(
            keys=[self._keys.rate(platform, user), self._keys.rate_notice(platform, user)],
            args=[interval, rule.burst, self._notice_ms],
        )
        return RateDecision(bool(allowed), bool(notify), int(retry))
