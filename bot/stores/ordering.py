"""One message at a time per conversation, in arrival order, across replicas.

A message joins the conversation's FIFO queue in Redis when it arrives. It
may take the conversation lock only when it is at the head of the queue and
the lock is free. The lock has an expiry and a fencing token, so a crashed
holder blocks the conversation for at most ``lock_ttl_ms``; sooner, when the
lock names its replica: a waiter breaks the lock of a replica whose heartbeat
has expired. A waiter whose process died (it stops polling) is dropped from
the head after ``stale_ms``.
Different conversations never wait on each other.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import LockTimeout
from bot.keys import Keys
from bot.stores.deferred import Deferred

log = logging.getLogger(__name__)
DEAD_CHECK_S = 1.0  # how often a waiter looks at whether the lock's holder is alive

# KEYS: queue, alive, lock, fence, context.  ARGV: me, lock ttl ms, stale ms, enqueue(1|0).
# Returns {fencing token, context value} when we now hold the lock, else {0}:
# the context comes back with the lock so a turn costs no separate GET.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, ttl, stale = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
-- A waiter dropped as stale (its loop stalled) queues again at the back.
if ARGV[4] == '1' or not redis.call('LPOS', KEYS[1], me) then
  redis.call('RPUSH', KEYS[1], me)
end
redis.call('HSET', KEYS[2], me, now)
redis.call('PEXPIRE', KEYS[1], ttl * 4)
redis.call('PEXPIRE', KEYS[2], ttl * 4)
if redis.call('EXISTS', KEYS[3]) == 1 then return {0} end
while true do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if not head then
    redis.call('RPUSH', KEYS[1], me)
    head = me
  end
  if head == me then
    local fence = redis.call('INCR', KEYS[4])
    redis.call('PEXPIRE', KEYS[4], 86400000)
    redis.call('SET', KEYS[3], me .. '|' .. fence, 'PX', ttl)
    redis.call('LPOP', KEYS[1])
    redis.call('HDEL', KEYS[2], me)
    return {fence, redis.call('GET', KEYS[5])}
  end
  local seen = tonumber(redis.call('HGET', KEYS[2], head) or '0')
  if now - seen <= stale then return {0} end
  redis.call('LPOP', KEYS[1])
  redis.call('HDEL', KEYS[2], head)
end
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: lock.  ARGV: waiter id.  Drop the lock if this waiter holds it, whatever its fence.
_RELEASE_WAITER = """
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """Proof of holding a conversation: the lock value and its fencing token.

    ``context`` is the stored context value read atomically with the lock.
    """

    conversation: str
    token: str
    fence: int
    waited_s: float
    context: bytes | None = None


class ConversationOrder:
    """Arrival-ordered conversation lock; see the module docstring."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        lock_ttl_ms: int,
        wait_ms: int,
        stale_ms: int = 3000,
        replica_id: str = "",
        deferred: Deferred | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._replica = replica_id
        self._deferred = deferred or Deferred()
        self._lock_ttl_ms = lock_ttl_ms
        self._wait_s = wait_ms / 1000
        self._stale_ms = stale_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._release_waiter = redis.register_script(_RELEASE_WAITER)

    async def acquire(self, conversation: str, waiter_id: str) -> Lease:
        """Queue up and wait our turn; raises :class:`LockTimeout` past ``wait_ms``."""
        keys = self._script_keys(conversation)
        if self._replica:
            waiter_id = f"{self._replica}/{waiter_id}"
        started = time.monotonic()
        enqueue, delay, next_check = "1", 0.002, started + DEAD_CHECK_S
        while True:
            try:
                reply = await self._acquire(
                    keys=keys, args=[waiter_id, self._lock_ttl_ms, self._stale_ms, enqueue]
                )
            except (RedisConnectionError, RedisTimeoutError):
                # The script may have run and given us the lock with the answer lost:
                # drop it once Redis is back, or the conversation waits out the lock's TTL.
                await self._deferred.run(
                    lambda: self._release_waiter(keys=[keys[2]], args=[waiter_id])
                )
                raise
            if reply[0]:
                fence = int(reply[0])
                context = reply[1] if len(reply) > 1 else None
                token = f"{waiter_id}|{fence}"
                return Lease(conversation, token, fence, time.monotonic() - started, context)
            enqueue = "0"
            now = time.monotonic()
            if now - started > self._wait_s:
                raise LockTimeout(conversation)
            if now > next_check:
                next_check = now + DEAD_CHECK_S
                await self._break_if_dead(conversation)
            await asyncio.sleep(delay)
            # Poll quickly at first; back off, but stay well inside ``stale_ms``.
            delay = min(delay * 2, 0.05, self._stale_ms / 4000)

    async def release(self, lease: Lease) -> None:
        """Give the conversation to the next waiter (only if we still hold it).

        If Redis is down, the release is replayed when it is back rather than
        leaving the conversation blocked until the lock expires.
        """
        lock = self._keys.lock(lease.conversation)
        await self._deferred.run(lambda: self._release(keys=[lock], args=[lease.token]))

    async def _break_if_dead(self, conversation: str) -> None:
        """Delete the lock if the replica it names has stopped heartbeating (it crashed)."""
        lock = self._keys.lock(conversation)
        holder = cast(bytes | None, await self._redis.get(lock))
        if holder is None or b"/" not in holder:
            return
        replica = holder.split(b"/", 1)[0].decode(errors="replace")
        if replica == self._replica or await self._redis.exists(self._keys.replica(replica)):
            return  # we are alive by definition, and so is any replica still heartbeating
        if await self._release(keys=[lock], args=[holder]):
            log.warning(
                "broke the conversation lock of a dead replica",
                extra={"conversation": conversation, "replica": replica},
            )

    def _script_keys(self, conversation: str) -> list[str]:
        k = self._keys
        return [
            k.queue(conversation),
            k.queue_alive(conversation),
            k.lock(conversation),
            k.fence(conversation),
            k.context(conversation),
        ]
