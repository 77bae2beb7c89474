"""Wake a conversation's next waiter when the conversation frees, instead of letting it poll.

A message that finds its conversation busy waits in the conversation's queue
(:mod:`bot.stores.ordering`). Polling alone costs a round trip per waiter every
few milliseconds: one customer sending twenty messages at once made Redis run
hundreds of commands per message (docs/scaling.md, the hot conversation). So
the scripts that free a conversation (release, leave, commit) also publish the
waiter id at the head of its queue on the channel of that waiter's replica
(waiter ids start with the replica id). Each replica listens on its own channel
and sets the event of the waiter named.

Pub/sub is at most once: a wake lost to a reconnect only costs the waiter its
next poll, which still runs, just rarely. Nothing is published while nobody
waits (the queue is empty), so uncontended traffic pays nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
RESUBSCRIBE_S = 1.0  # pause before listening again after the connection failed
IDLE_S = 5.0  # longest single read of the channel
STOP_S = 1.0  # how long a stop waits for the listener; abandoned after that

# A Lua function for the scripts that free a conversation: publish the head waiter's id
# on its replica's channel (``prefix`` .. replica id). Ids without a replica are skipped.
WAKE_HEAD = """
local function wake_head(queue, prefix)
  local head = redis.call('LINDEX', queue, 0)
  if not head then return end
  local slash = string.find(head, '/', 1, true)
  if slash then redis.call('PUBLISH', prefix .. string.sub(head, 1, slash - 1), head) end
end
"""


class Waker:
    """This replica's end of the wake channel: waiters register, the listener sets them."""

    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self._redis = redis
        self.channel = channel
        self._waiting: dict[str, asyncio.Event] = {}
        self._listener: asyncio.Task[None] | None = None
        self._closing = False
        self.subscribed = asyncio.Event()  # set while the channel is listened to

    def expect(self, waiter_id: str) -> asyncio.Event:
        """The event a wake for ``waiter_id`` sets; register before asking Redis, so a
        wake published while the request is in flight is not missed."""
        return self._waiting.setdefault(waiter_id, asyncio.Event())

    def forget(self, waiter_id: str) -> None:
        """The waiter stopped waiting (it holds the conversation, or gave up)."""
        self._waiting.pop(waiter_id, None)

    async def start(self) -> None:
        """Listen in the background (the first subscription is awaited by nobody)."""
        self._listener = asyncio.create_task(self._listen(), name="conversation-wake")

    async def stop(self) -> None:
        """Stop listening and wake every waiter, so none sleeps out its poll at shutdown.

        Bounded: redis-py can swallow a cancellation that lands inside a read, and the
        listener then ends at its next read's end (``_closing``), up to ``IDLE_S`` later.
        """
        self._closing = True
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.wait({self._listener}, timeout=STOP_S)
        for event in self._waiting.values():
            event.set()

    async def _listen(self) -> None:
        while not self._closing:
            try:
                await self._follow()
            except RedisError as exc:
                log.warning("conversation wake channel lost; waiters poll meanwhile: %s", exc)
            self.subscribed.clear()
            await asyncio.sleep(RESUBSCRIBE_S)

    async def _follow(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            while not self._closing:
                # a bounded read, not a blocking one: a client socket timeout would turn
                # every quiet stretch into an error
                item: dict[str, Any] | None = await pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=IDLE_S
                )
                if item is not None:
                    self._wake(item["data"])
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), STOP_S)

    def _wake(self, data: bytes | str) -> None:
        waiter_id = data.decode(errors="replace") if isinstance(data, bytes) else data
        event = self._waiting.get(waiter_id)
        if event is not None:
            event.set()
