"""One message at a time per conversation, in arrival order, across replicas.

A message joins the conversation's FIFO queue in Redis when it arrives. It
may take the conversation lock only when it is at the head of the queue and
the lock is free. The lock has an expiry and a fencing token, so a crashed
holder blocks the conversation for at most ``lock_ttl_ms``; sooner, when the
lock names its replica: a waiter breaks the lock of a replica whose heartbeat
has expired. A waiter whose process died (it stops polling) is dropped from
the head after ``stale_ms``.
Different conversations never wait on each other.

A new message's first attempt runs together with its dedupe claim
(:meth:`ConversationOrder.claim_and_queue`): both keys share the
conversation's hash slot, so one script, one round trip, does both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import LockTimeout
from bot.keys import Keys
from bot.stores.deferred import Deferred
from bot.stores.wake import WAKE_HEAD, Waker

log = logging.getLogger(__name__)
DEAD_CHECK_S = 1.0  # how often a waiter looks at whether the lock's holder is alive
POLL_S = 0.25  # pause between a waiter's polls while wakes arrive (a wake can be lost)
# Without wakes (no listener yet, or its connection lost) polls alone find the turn: the
# first comes soon, and they back off up to this.
FAST_POLL_S, FAST_POLL_CAP_S = 0.002, 0.05

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

# KEYS: lock, queue.  ARGV: lease token, wake channel prefix.
_RELEASE = (
    WAKE_HEAD
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
wake_head(KEYS[2], ARGV[2])
return 1
"""
)

# The first acquire of a new message, run only if its dedupe marker was absent: the
# claim and the queueing cost one round trip together. A message whose marker exists
# (a retry, a duplicate) touches no queue here; the Deduper's protocol handles it.
# The exception is this very call sent again by the client after its answer was lost
# (redis-py resends on a connection error): its waiter id is unique, so finding it
# holding the lock or queued means the claim was ours, and the call answers as the
# first one did rather than stranding that waiter.
# KEYS: as _ACQUIRE, then the dedupe marker.  ARGV: as _ACQUIRE, then marker value, its ttl ms.
# Returns {-1, marker value} when the marker exists (the caller needs no GET to judge a
# retry or a duplicate), else what _ACQUIRE returns.
_CLAIM_AND_ACQUIRE = (
    """
if not redis.call('SET', KEYS[6], ARGV[5], 'NX', 'PX', ARGV[6]) then
  local me, held = ARGV[1], redis.call('GET', KEYS[3])
  if held and string.sub(held, 1, #me + 1) == me .. '|' then
    return {tonumber(string.sub(held, #me + 2)), redis.call('GET', KEYS[5])}
  end
  if redis.call('LPOS', KEYS[1], me) then return {0} end
  return {-1, redis.call('GET', KEYS[6])}
end
"""
    + _ACQUIRE
)

# KEYS: lock, queue, alive[, dedupe marker].
# ARGV: waiter id, wake channel prefix[, marker value, its ttl ms].
# A waiter gives up: drop the lock if it holds it, whatever its fence, and its place in
# the queue, so nobody behind it waits for it to go stale. With a marker, also set it:
# a turn that ends before its conversation step marks its message in the same trip.
# If the conversation is free now, the waiter that may take it is woken.
_LEAVE = (
    WAKE_HEAD
    + """
local held = redis.call('GET', KEYS[1])
redis.call('LREM', KEYS[2], 0, ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[4]) end
local dropped = 0
if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  dropped = redis.call('DEL', KEYS[1])
  held = nil
end
if not held then wake_head(KEYS[2], ARGV[2]) end
return dropped
"""
)


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


@dataclass(frozen=True, slots=True)
class Waiter:
    """A place in a conversation's queue taken ahead of the turn's order step.

    ``lease`` is set when the first attempt found the conversation free and took
    it; otherwise :meth:`ConversationOrder.resume` waits for the turn from there.
    """

    conversation: str
    waiter_id: str
    started: float
    lease: Lease | None = None


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
        waker: Waker | None = None,
        poll_s: float = POLL_S,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._replica = replica_id
        self._waker = waker
        self._wake_prefix = keys.wake()
        self._deferred = deferred if deferred is not None else Deferred()
        self._lock_ttl_ms = lock_ttl_ms
        self._wait_s = wait_ms / 1000
        self._stale_ms = stale_ms
        # A waiter must poll well inside ``stale_ms`` (each poll says it is alive); between
        # polls, a wake ends its pause at once.
        self._poll_s = min(poll_s, stale_ms / 4000)
        self._fast_cap_s = min(FAST_POLL_CAP_S, stale_ms / 4000)
        self._acquire = redis.register_script(_ACQUIRE)
        self._claim_and_acquire = redis.register_script(_CLAIM_AND_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._leave = redis.register_script(_LEAVE)

    async def acquire(self, conversation: str, waiter_id: str) -> Lease:
        """Queue up and wait our turn; raises :class:`LockTimeout` past ``wait_ms``.

        A waiter that stops waiting (timed out, cancelled) leaves its place at once:
        left there, it would hold up everyone behind it until it went stale.
        """
        waiter = Waiter(conversation, self._full_id(waiter_id), time.monotonic())
        try:
            return await self._wait_turn(waiter, enqueue=True)
        except (LockTimeout, asyncio.CancelledError):
            await self.leave(waiter)
            raise

    async def claim_and_queue(
        self, conversation: str, marker: str, value: bytes, ttl_ms: int
    ) -> Waiter | bytes:
        """Set the dedupe ``marker`` if absent and, only then, queue up in one round trip.

        The marker's value when it exists: nothing was queued. Otherwise the returned
        waiter holds the conversation already (``lease``) or is queued for
        :meth:`resume`; the caller owns it and must :meth:`leave` it if the turn
        stops before resuming.
        """
        waiter = Waiter(conversation, self._full_id(uuid.uuid4().hex), time.monotonic())
        args = [*self._args(waiter, enqueue=True), value, ttl_ms]
        keys = [*self._script_keys(conversation), marker]
        reply = await self._attempt(self._claim_and_acquire, waiter, keys, args)
        if int(reply[0]) == -1:
            return cast(bytes, reply[1])
        lease = self._lease(waiter, reply)
        return Waiter(conversation, waiter.waiter_id, waiter.started, lease)

    async def resume(self, waiter: Waiter) -> Lease:
        """The lease of a waiter from :meth:`claim_and_queue`, waiting for it if need be."""
        if waiter.lease is not None:
            return waiter.lease
        return await self._wait_turn(waiter, enqueue=False)

    async def leave(self, waiter: Waiter) -> None:
        """Give up a waiter's place: its lock if it holds it, else its place in the queue.

        Replayed when Redis is back if it is unreachable now, like :meth:`release`.
        """
        keys = self._leave_keys(waiter.conversation)
        args = [waiter.waiter_id, self._wake_prefix]
        await self._deferred.run(lambda: self._leave(keys=keys, args=args))

    async def leave_marking(self, waiter: Waiter, marker: str, value: bytes, ttl_ms: int) -> None:
        """:meth:`leave`, and set the dedupe ``marker`` to ``value``, in one round trip.

        The marker write is not replayed: a lost connection raises, as a plain SET
        would, and only the leave is kept for when Redis is back.
        """
        keys = [*self._leave_keys(waiter.conversation), marker]
        try:
            await self._leave(keys=keys, args=[waiter.waiter_id, self._wake_prefix, value, ttl_ms])
        except (RedisConnectionError, RedisTimeoutError):
            await self.leave(waiter)
            raise

    async def release(self, lease: Lease) -> None:
        """Give the conversation to the next waiter (only if we still hold it).

        If Redis is down, the release is replayed when it is back rather than
        leaving the conversation blocked until the lock expires.
        """
        keys = [self._keys.lock(lease.conversation), self._keys.queue(lease.conversation)]
        args = [lease.token, self._wake_prefix]
        await self._deferred.run(lambda: self._release(keys=keys, args=args))

    async def _wait_turn(self, waiter: Waiter, *, enqueue: bool) -> Lease:
        """Try the acquire script until the waiter holds the lock, or ``wait_ms`` passed.

        It tries again when woken (the conversation freed, :mod:`bot.stores.wake`) or
        after a pause that backs off, whichever comes first.
        """
        conversation, started = waiter.conversation, waiter.started
        keys = self._script_keys(conversation)
        delay, next_check = 0.0, started + DEAD_CHECK_S
        woken = self._waker.expect(waiter.waiter_id) if self._waker else None
        try:
            while True:
                if woken is not None:
                    woken.clear()  # before asking: a wake during the request counts
                args = self._args(waiter, enqueue=enqueue)
                reply = await self._attempt(self._acquire, waiter, keys, args)
                lease = self._lease(waiter, reply)
                if lease is not None:
                    return lease
                enqueue = False
                now = time.monotonic()
                if now - started > self._wait_s:
                    raise LockTimeout(conversation)
                if now > next_check:
                    next_check = now + DEAD_CHECK_S
                    await self._break_if_dead(conversation)
                first, cap = self._pauses()
                delay = min(max(delay * 2, first), cap)
                await _pause(woken, delay)
        finally:
            if self._waker is not None:
                self._waker.forget(waiter.waiter_id)

    def _pauses(self) -> tuple[float, float]:
        """The first and the longest pause between tries: long while wakes arrive (the
        wake ends a pause; fast polls would only repeat the script), short without."""
        if self._waker is not None and self._waker.subscribed.is_set():
            return self._poll_s, self._poll_s
        return FAST_POLL_S, self._fast_cap_s

    async def _attempt(
        self, script: AsyncScript, waiter: Waiter, keys: list[str], args: list[Any]
    ) -> list[Any]:
        try:
            return cast(list[Any], await script(keys=keys, args=args))
        except (RedisConnectionError, RedisTimeoutError):
            # The script may have run and given us the lock with the answer lost:
            # drop it once Redis is back, or the conversation waits out the lock's TTL.
            await self.leave(waiter)
            raise

    def _args(self, waiter: Waiter, *, enqueue: bool) -> list[Any]:
        return [waiter.waiter_id, self._lock_ttl_ms, self._stale_ms, "1" if enqueue else "0"]

    def _lease(self, waiter: Waiter, reply: list[Any]) -> Lease | None:
        """The lease an acquire reply grants (``{fence, context}``), or None (``{0}``)."""
        if not int(reply[0]):
            return None
        fence = int(reply[0])
        context = reply[1] if len(reply) > 1 else None
        token = f"{waiter.waiter_id}|{fence}"
        waited = time.monotonic() - waiter.started
        return Lease(waiter.conversation, token, fence, waited, context)

    def _full_id(self, waiter_id: str) -> str:
        """Waiter ids name their replica, so a waiter can break a dead replica's lock."""
        return f"{self._replica}/{waiter_id}" if self._replica else waiter_id

    async def _break_if_dead(self, conversation: str) -> None:
        """Delete the lock if the replica it names has stopped heartbeating (it crashed)."""
        lock = self._keys.lock(conversation)
        holder = cast(bytes | None, await self._redis.get(lock))
        if holder is None or b"/" not in holder:
            return
        replica = holder.split(b"/", 1)[0].decode(errors="replace")
        if replica == self._replica or await self._redis.exists(self._keys.replica(replica)):
            return  # we are alive by definition, and so is any replica still heartbeating
        keys = [lock, self._keys.queue(conversation)]
        if await self._release(keys=keys, args=[holder, self._wake_prefix]):
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

    def _leave_keys(self, conversation: str) -> list[str]:
        k = self._keys
        return [k.lock(conversation), k.queue(conversation), k.queue_alive(conversation)]


async def _pause(woken: asyncio.Event | None, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``woken`` is set meanwhile."""
    if woken is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(woken.wait(), seconds)
