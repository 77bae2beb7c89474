"""Exactly-once handling of platform messages: a *processing -> done* marker.

``claim`` sets the marker with ``SET NX``. A retry of a message that is done
is acknowledged without a second reply. A retry of a message still marked
*processing* is taken over when the replica that owned it has stopped
heartbeating (it crashed), so a crash never loses the message; a message whose
handling raised is released at once so the platform's retry runs it again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import cast

import redis.asyncio as aioredis

from bot.keys import Keys

_DONE = b"d"
_PROCESSING = b"p:"

# Replace the marker only if it still holds what we read (compare-and-set).
_TAKEOVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Claim(StrEnum):
    """Outcome of :meth:`Deduper.claim`."""

    NEW = "new"  # ours to process
    DONE = "done"  # already answered: acknowledge, say nothing
    IN_FLIGHT = "in_flight"  # a live replica is processing it right now


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
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._mine = _PROCESSING + replica_id.encode()
        self._processing_ms = processing_ttl_s * 1000
        self._done_s = done_ttl_s
        self._takeover = redis.register_script(_TAKEOVER)
        self._release = redis.register_script(_RELEASE)

    async def claim(self, conversation: str, message_id: str) -> Claim:
        """Claim a message for processing by this replica."""
        key = self._keys.dedupe(conversation, message_id)
        if await self._redis.set(key, self._mine, nx=True, px=self._processing_ms):
            return Claim.NEW
        current = cast(bytes | None, await self._redis.get(key))
        if current is None:  # expired between the two calls: try once more
            ok = await self._redis.set(key, self._mine, nx=True, px=self._processing_ms)
            return Claim.NEW if ok else Claim.IN_FLIGHT
        if current == _DONE:
            return Claim.DONE
        if current != self._mine and not await self._owner_alive(current):
            taken = await self._takeover(
                keys=[key], args=[current, self._mine, self._processing_ms]
            )
            return Claim.NEW if taken else Claim.IN_FLIGHT
        return Claim.IN_FLIGHT

    async def done(self, conversation: str, message_id: str) -> None:
        """Mark the message answered; retries from now on are acknowledged silently."""
        await self._redis.set(self._keys.dedupe(conversation, message_id), _DONE, ex=self._done_s)

    async def release(self, conversation: str, message_id: str) -> None:
        """Forget our claim after a failure, so the platform's retry processes it again."""
        await self._release(keys=[self._keys.dedupe(conversation, message_id)], args=[self._mine])

    async def _owner_alive(self, marker: bytes) -> bool:
        owner = marker[len(_PROCESSING) :].decode(errors="replace")
        return bool(await self._redis.exists(self._keys.replica(owner)))
