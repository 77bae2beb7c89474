"""Exactly-once handling of platform messages: a *processing -> done* marker.

``claim`` sets the marker with ``SET NX``. A retry of a message that is done
is acknowledged without a second reply. A retry of a message still marked
*processing* is taken over when the replica that owned it has stopped
heartbeating (it crashed), so a crash never loses the message; a message whose
handling raised is released at once so the platform's retry runs it again.
A released marker stays behind as *released*, so the retry's claim says
:attr:`Claim.RETRY` and the send step knows to skip replies already sent.

A new message's ``SET NX`` usually travels inside the conversation's first
acquire (:meth:`Deduper.claim_queued`); only when the marker already exists does
the rest of the protocol run, through :meth:`Deduper.claim`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from typing import cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.keys import Keys
from bot.stores.deferred import Deferred
from bot.stores.ordering import ConversationOrder, Waiter

_DONE = b"d"
_PROCESSING = b"p:"
_RELEASED = b"r"

# Replace the marker only if it still holds what we read (compare-and-set).
_TAKEOVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
# KEYS: marker.  ARGV: our processing value, released value, ttl ms.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 0
"""


class Claim(StrEnum):
    """Outcome of :meth:`Deduper.claim`."""

    NEW = "new"  # ours to process, first time
    RETRY = "retry"  # ours to process; an earlier attempt failed or its replica died
    DONE = "done"  # already answered: acknowledge, say nothing
    IN_FLIGHT = "in_flight"  # a live replica is processing it right now

    @property
    def ours(self) -> bool:
        """Whether this replica now processes the message."""
        return self in (Claim.NEW, Claim.RETRY)


class Deduper:
    """Per-message markers; see the module docstring for the protocol."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        replica_id: str,
        processing_ttl_s: int,
        done_ttl_s: int,
        deferred: Deferred | None = None,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._mine = _PROCESSING + replica_id.encode()
        self._processing_ms = processing_ttl_s * 1000
        self._done_s = done_ttl_s
        self._takeover = redis.register_script(_TAKEOVER)
        self._release = redis.register_script(_RELEASE)
        self._release_args: list[bytes | int] = [self._mine, _RELEASED, done_ttl_s * 1000]
        self._active: set[str] = set()  # markers this process is working on right now
        # markers a coroutine here is claiming right now (its answer not yet read): two
        # deliveries of one message on one replica can have their replies read in either
        # order, so the second must not take the first's fresh marker for a lost release
        self._claiming: Counter[str] = Counter()
        self._deferred = deferred if deferred is not None else Deferred()

    async def claim(
        self, conversation: str, message_id: str, *, marker: bytes | None = None
    ) -> Claim:
        """Claim a message for processing by this replica.

        ``marker``: the value :meth:`claim_queued` found instead of setting it, so
        neither the same SET nor a GET is sent again.
        """
        key = self._keys.dedupe(conversation, message_id)
        try:
            with self._claiming_now(key):
                claim = await self._claim(key, marker)
                if claim.ours:
                    self._active.add(key)
        except (RedisConnectionError, RedisTimeoutError):
            # SET NX may have landed with its answer lost: release it once Redis is back
            # (unless a retry here has taken it up since), or other replicas wait on it.
            await self._deferred.run(lambda: self._release_if_idle(key))
            raise
        return claim

    async def claim_queued(
        self, conversation: str, message_id: str, order: ConversationOrder
    ) -> Waiter | bytes:
        """The common path: claim a message whose marker is absent and queue for its
        conversation, in one round trip (:meth:`ConversationOrder.claim_and_queue`).

        A waiter means :attr:`Claim.NEW`. Otherwise the marker exists, its value is
        returned and nothing happened: :meth:`wait` (``marker=``) runs the rest of the
        protocol.
        """
        key = self._keys.dedupe(conversation, message_id)
        marker, value, ttl = key, self._mine, self._processing_ms
        try:
            with self._claiming_now(key):
                waiter = await order.claim_and_queue(conversation, marker, value, ttl)
                if isinstance(waiter, Waiter):
                    self._active.add(key)
        except (RedisConnectionError, RedisTimeoutError):
            # as in claim: the SET NX may have landed (the order has deferred its own undo)
            await self._deferred.run(lambda: self._release_if_idle(key))
            raise
        return waiter

    @contextlib.contextmanager
    def _claiming_now(self, key: str) -> Iterator[None]:
        self._claiming[key] += 1
        try:
            yield
        finally:
            self._claiming[key] -= 1
            if not self._claiming[key]:
                del self._claiming[key]

    def _busy_here(self, key: str, *, mine: int = 0) -> bool:
        """Whether this process works on ``key`` or claims it (besides ``mine`` claims)."""
        return key in self._active or self._claiming[key] > mine

    async def _claim(self, key: str, current: bytes | None = None) -> Claim:
        if current is None:
            if await self._redis.set(key, self._mine, nx=True, px=self._processing_ms):
                return Claim.NEW
            current = cast(bytes | None, await self._redis.get(key))
        if current is None:  # expired between the two calls: try once more
            ok = await self._redis.set(key, self._mine, nx=True, px=self._processing_ms)
            return Claim.NEW if ok else Claim.IN_FLIGHT
        if current == _DONE:
            return Claim.DONE
        if current == self._mine:
            if self._busy_here(key, mine=1):
                return Claim.IN_FLIGHT
            # Ours, but nothing here works on it: a release that Redis missed, or a value
            # read while a delivery here still worked on it that has ended since (the
            # marker may be done by now). Only a marker unchanged in Redis is taken again.
        elif current != _RELEASED and await self._owner_alive(current):
            return Claim.IN_FLIGHT
        if await self._takeover(keys=[key], args=[current, self._mine, self._processing_ms]):
            return Claim.RETRY
        # someone else changed it first: done, or taken over by a live replica
        return Claim.DONE if await self._redis.get(key) == _DONE else Claim.IN_FLIGHT

    async def _release_if_idle(self, key: str) -> None:
        if not self._busy_here(key):
            await self._release(keys=[key], args=self._release_args)

    def finished(self, conversation: str, message_id: str) -> None:
        """This process stopped working on the message (done, released or failed)."""
        self._active.discard(self._keys.dedupe(conversation, message_id))

    async def wait(
        self, conversation: str, message_id: str, timeout_s: float, *, marker: bytes | None = None
    ) -> Claim:
        """Claim, and while another replica has the message in flight, keep trying.

        A retry arriving while the first delivery is still being handled waits
        for it to finish (then it is a duplicate); if the replica handling it
        crashed, the claim is taken over once its heartbeat has expired.
        ``marker`` applies to the first try, as in :meth:`claim`.
        """
        deadline = time.monotonic() + timeout_s
        claim = await self.claim(conversation, message_id, marker=marker)
        while claim is Claim.IN_FLIGHT and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            claim = await self.claim(conversation, message_id)
        return claim

    async def done(self, conversation: str, message_id: str) -> None:
        """Mark the message answered; retries from now on are acknowledged silently."""
        await self._redis.set(self._keys.dedupe(conversation, message_id), _DONE, ex=self._done_s)

    async def done_leaving(
        self, conversation: str, message_id: str, order: ConversationOrder, waiter: Waiter
    ) -> None:
        """:meth:`done`, and ``waiter`` gives up its conversation place, in one round trip.

        For a turn that ends before its conversation step (rate-limited) but after
        :meth:`claim_queued` queued it. Raises on a lost connection as :meth:`done`
        does; the place is then given up once Redis is back.
        """
        key = self._keys.dedupe(conversation, message_id)
        await order.leave_marking(waiter, key, _DONE, self._done_s * 1000)

    async def release(self, conversation: str, message_id: str) -> None:
        """Forget our claim after a failure, so the platform's retry processes it again.

        If Redis is down the release is replayed when it is back, so a retry that
        another replica receives is not taken for in flight for long; but not if a
        retry here has taken the message up again by then (the marker names the
        replica, not the attempt, so the release would free that retry's claim).
        """
        key = self._keys.dedupe(conversation, message_id)
        tried = False

        async def op() -> None:
            nonlocal tried
            if tried:  # replayed: Redis missed the first try
                await self._release_if_idle(key)
                return
            tried = True
            await self._release(keys=[key], args=self._release_args)

        await self._deferred.run(op)

    async def _owner_alive(self, marker: bytes) -> bool:
        owner = marker[len(_PROCESSING) :].decode(errors="replace")
        return bool(await self._redis.exists(self._keys.replica(owner)))
