"""Redis writes that must not be lost when Redis is briefly unreachable.

Releasing a claim or a lock, or marking a reply as sent, must happen even if
Redis went away mid-turn: otherwise a retry finds the message still claimed, or
resends a reply. Such writes go through :meth:`Deferred.run`; one that fails
for want of a connection is kept and replayed, in order, by :meth:`replay`,
which the runtime's heartbeat calls once Redis answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)
Op = Callable[[], Awaitable[Any]]


class Deferred:
    """Idempotent Redis writes, replayed after a connection failure."""

    def __init__(self) -> None:
        self._ops: list[Op] = []

    def __len__(self) -> int:
        return len(self._ops)

    def __bool__(self) -> bool:
        # A Deferred is a shared store, not a collection: one with nothing kept must not
        # read as false, or `deferred or Deferred()` quietly makes a private one that the
        # runtime's heartbeat never replays (the bug behind writes never replayed).
        return True

    async def run(self, op: Op) -> None:
        """Run ``op`` now; if Redis is unreachable, keep it for :meth:`replay`."""
        try:
            await op()
        except (RedisConnectionError, RedisTimeoutError):
            self._ops.append(op)

    async def replay(self) -> None:
        """Run the kept writes in order; stops (keeping the rest) at the first failure."""
        if self._ops:
            log.info("replaying writes Redis missed", extra={"count": len(self._ops)})
        while self._ops:
            await self._ops[0]()
            self._ops.pop(0)
