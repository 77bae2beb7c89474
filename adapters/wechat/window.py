"""The 48-hour customer-service window and its send quota, per user, in Redis.

A customer-service message may go to a user only within 48 hours of their
last message, and only a few times per message (5 under the current rules).
The bot records each inbound message and each send; escalation asks
:meth:`SendWindow.state` before relaying an agent's reply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from bot.channels import Limits
from bot.keys import Keys
from bot.settings import RateLimitRule

# The platform's rules, as the core reads them (escalation warns before the window closes).
LIMITS = Limits(
    send_pace=RateLimitRule(per_minute=600, burst=50),
    reply_window_s=48 * 3600,
    reply_quota=5,
)
WINDOW_S = int(LIMITS.reply_window_s or 0)
QUOTA = int(LIMITS.reply_quota or 0)


# KEYS: window.  ARGV: now, window seconds.
_REOPEN = """
redis.call('HSET', KEYS[1], 'last_in', ARGV[1], 'sent', 0)
return redis.call('EXPIRE', KEYS[1], ARGV[2])
"""


@dataclass(frozen=True, slots=True)
class Window:
    """Whether a proactive message can reach the user now."""

    open: bool
    closes_at: float
    remaining: int

    @property
    def remaining_quota(self) -> int:
        """Customer-service messages still allowed before the user writes again."""
        return self.remaining


class SendWindow:
    """Per-user window bookkeeping; keys share the conversation's hash tag."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        # A script, not a MULTI/EXEC pipeline: as atomic, one round trip, and redis-py's
        # cluster client runs a transaction pipeline on a thread of its own per call,
        # blocking the event loop (a third of a cluster replica's time; docs/scaling.md).
        self._reopen = redis.register_script(_REOPEN)

    def _key(self, account: str, openid: str) -> str:
        return self._keys.user_state("wechat", "win", f"wechat:{account}:{openid}")

    async def inbound(self, account: str, openid: str) -> None:
        """The user wrote: the window reopens with a fresh quota."""
        await self._reopen(keys=[self._key(account, openid)], args=[time.time(), WINDOW_S])

    async def state(self, account: str, openid: str) -> Window:
        """The window as of now."""
        data = cast(dict[bytes, bytes], await self._redis.hgetall(self._key(account, openid)))
        last_in = float(data.get(b"last_in", 0) or 0)
        sent = int(data.get(b"sent", 0) or 0)
        closes = last_in + WINDOW_S
        remaining = max(0, QUOTA - sent)
        return Window(
            open=closes > time.time() and remaining > 0, closes_at=closes, remaining=remaining
        )

    async def sent(self, account: str, openid: str) -> None:
        """Count one proactive message against the quota."""
        await self._redis.hincrby(self._key(account, openid), "sent", 1)
