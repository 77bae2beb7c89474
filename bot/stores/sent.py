"""The send ledger: which replies of a message have gone out.

A turn that runs a second time (its first attempt failed after sending, or its
replica died mid-turn) skips the replies listed here, so a retry never shows a
reply twice. Replies are marked one by one, right after the platform accepted
each, which leaves one gap: a crash between that acceptance and the mark. The
last reply of a turn is the exception (``bot.steps.Send``): the commit right
after it marks the message done, and a done message's ledger is never read, so
its mark is written only if that commit fails; the gap is the same one round trip.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from bot.keys import Keys
from bot.stores.deferred import Deferred


class SendLedger:
    """Per-message set of sent reply indexes, kept as long as the dedupe marker."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, *, ttl_s: int, deferred: Deferred | None = None
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl_s = ttl_s
        self._deferred = deferred if deferred is not None else Deferred()

    async def sent(self, conversation: str, message_id: str) -> set[int]:
        """Indexes of the replies already delivered for this message."""
        members = await self._redis.smembers(self._keys.sent(conversation, message_id))
        return {int(m) for m in members}

    async def mark(self, conversation: str, message_id: str, index: int) -> None:
        """Record reply ``index`` as delivered (replayed later if Redis is unreachable now)."""
        key = self._keys.sent(conversation, message_id)

        async def write() -> None:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.sadd(key, index)
                pipe.expire(key, self._ttl_s)
                await pipe.execute()

        await self._deferred.run(write)
