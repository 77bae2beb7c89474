"""The console's ticket threads and live events, shared by every replica through Redis.

Each ticket has a thread: a capped Redis list of entries (customer messages,
agent replies, internal notes, system lines, timer notices), because the
console, unlike Slack, has no platform that keeps the conversation for it.
Every change is also published on one pub/sub channel; each replica streams
what arrives to the agents connected to it, so an agent on replica A sees a
message that reached replica B at once.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import redis.asyncio as aioredis

from bot.escalation.tickets import CLOSED_TTL_S
from bot.keys import Keys

THREAD_MAX = 500
Entry = dict[str, Any]


# KEYS: thread.  ARGV: entry JSON, entries kept, ttl s.
_APPEND = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return redis.call('EXPIRE', KEYS[1], ARGV[3])
"""


class ConsoleFeed:
    """Append to and read ticket threads; publish and follow console events."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self.channel = keys.console_events()
        # A script, not a MULTI/EXEC pipeline: redis-py's cluster client runs those on a
        # thread of its own per call, blocking the loop, and this runs per relayed message.
        self._append = redis.register_script(_APPEND)

    def thread_key(self, ticket_id: str) -> str:
        """Same hash tag as the ticket, so both live on one Redis Cluster slot."""
        return self._keys.console_thread(ticket_id)

    async def append(self, ticket_id: str, entry: Entry) -> Entry:
        """Add ``entry`` (stamped with the time) to the thread and tell every replica."""
        entry = {"ts": time.time(), **entry}
        key = self.thread_key(ticket_id)
        # the thread outlives the ticket's own TTL after closing
        await self._append(
            keys=[key], args=[json.dumps(entry, ensure_ascii=False), THREAD_MAX, CLOSED_TTL_S]
        )
        await self.publish({"type": "entry", "ticket": ticket_id, "entry": entry})
        return entry

    async def thread(self, ticket_id: str) -> list[Entry]:
        """The ticket's thread, oldest first."""
        raws = cast(list[bytes], await self._redis.lrange(self.thread_key(ticket_id), 0, -1))
        return [json.loads(r) for r in raws]

    async def recent(self, ticket_ids: list[str], n: int = 20) -> dict[str, list[Entry]]:
        """The last ``n`` entries of each thread, in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ticket_ids:
                pipe.lrange(self.thread_key(ticket_id), -n, -1)
            results = await pipe.execute()
        return {
            i: [json.loads(r) for r in raws] for i, raws in zip(ticket_ids, results, strict=True)
        }

    async def publish(self, event: dict[str, Any]) -> None:
        """Send ``event`` to every replica's connected agents."""
        await self._redis.publish(self.channel, json.dumps(event, ensure_ascii=False))

    @contextlib.asynccontextmanager
    async def follow(self, idle_s: float = 15.0) -> AsyncIterator[AsyncIterator[str | None]]:
        """Subscribe now (nothing published from here on is missed) and iterate the events.

        None is yielded after ``idle_s`` without an event, so the stream can send a
        keep-alive that proxies see and that reveals a closed connection.
        """
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)

        async def events() -> AsyncIterator[str | None]:
            while True:
                item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=idle_s)
                yield item["data"].decode() if item else None

        try:
            yield events()
        finally:
            await pubsub.aclose()
