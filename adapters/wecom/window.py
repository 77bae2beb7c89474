"""The kf API's 48-hour window and its 5 messages per customer message, per customer, in Redis.

WeCom lets the bot (or an API servicer) send to a WeChat customer only within 48
hours of the customer's last message, and at most 5 times per message; past
either the API answers 95002 or 95001. The bot counts both itself, so a reply
that cannot go out is refused before the call, and escalation can warn an
agent (``Limits``). Messages are pulled in pages and a page may be pulled
again after a failure, so a customer message reopens the window only if it is
newer than the last one seen: a replayed page never grants a fresh quota.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis

from bot.channels import Limits
from bot.keys import Keys
from bot.settings import RateLimitRule

LIMITS = Limits(
    send_pace=RateLimitRule(per_minute=600, burst=50),
    reply_window_s=48 * 3600,
    reply_quota=5,
)
WINDOW_S = int(LIMITS.reply_window_s or 0)
QUOTA = int(LIMITS.reply_quota or 0)

# KEYS: the window hash.  ARGV: send_time, msgid, ttl s.  Reopen only for a newer message.
_INBOUND = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last_in') or '0')
local seen = redis.call('HGET', KEYS[1], 'last_id')
local at = tonumber(ARGV[1])
if at > last or (at == last and seen ~= ARGV[2]) then
  redis.call('HSET', KEYS[1], 'last_in', ARGV[1], 'last_id', ARGV[2], 'sent', 0)
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
"""
# KEYS: the window hash.  ARGV: now, window s, quota.  Take one send if the window allows.
_TAKE = """
local last = tonumber(redis.call('HGET', KEYS[1], 'last_in') or '0')
local sent = tonumber(redis.call('HGET', KEYS[1], 'sent') or '0')
if last + tonumber(ARGV[2]) <= tonumber(ARGV[1]) then return -1 end
if sent >= tonumber(ARGV[3]) then return -2 end
redis.call('HINCRBY', KEYS[1], 'sent', 1)
return 1
"""


@dataclass(frozen=True, slots=True)
class Window:
    """Whether a message can reach the customer now."""

    open: bool
    closes_at: float
    remaining: int


class SendWindow:
    """Per-customer bookkeeping; the key carries the conversation's hash tag."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._inbound = redis.register_script(_INBOUND)
        self._take = redis.register_script(_TAKE)

    def _key(self, conversation: str) -> str:
        return self._keys.user_state("wecom", "win", conversation)

    async def inbound(self, conversation: str, send_time: float, msgid: str) -> bool:
        """The customer wrote at ``send_time``: True if that reopened the window."""
        args: list[str | int] = [repr(float(send_time)), msgid, WINDOW_S]
        return bool(await self._inbound(keys=[self._key(conversation)], args=args))

    async def take(self, conversation: str) -> str | None:
        """Count one send; None if allowed, else the errcode WeCom would answer."""
        args: list[str | int] = [repr(time.time()), WINDOW_S, QUOTA]
        result = int(await self._take(keys=[self._key(conversation)], args=args))
        return None if result == 1 else ("95002" if result == -1 else "95001")

    async def state(self, conversation: str) -> Window:
        """The window as of now."""
        data = cast(dict[bytes, bytes], await self._redis.hgetall(self._key(conversation)))
        last_in = float(data.get(b"last_in", 0) or 0)
        remaining = max(0, QUOTA - int(data.get(b"sent", 0) or 0))
        closes = last_in + WINDOW_S if last_in else 0.0
        return Window(
            open=closes > time.time() and remaining > 0, closes_at=closes, remaining=remaining
        )
