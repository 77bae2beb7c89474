"""Pulling a kf account's messages with ``kf/sync_msg``: one replica at a time, never a page lost.

Each ``kf_msg_or_event`` callback says "there is something new" with a sync
token; the messages themselves are read after a cursor that WeCom hands back
with each page. Per kf account, Redis holds:

- ``cursor``: the position after the last page whose every message is handled;
- ``pending``: the latest event's token, set by each callback ("sync again");
- ``lock``: the replica draining now, with a time-to-live that it keeps renewing;
- ``syncfail``: failed passes per cursor, so one message that fails every time
  (a poison page) holds the account up ``max_attempts`` times, not forever.

A callback stores its token in ``pending`` and drains if it gets the lock. The
holder pulls a page from ``cursor``, submits every message, waits until each
turn has ended (the pipeline's dedupe on ``msgid`` makes a page safe to pull
twice), and only then moves the cursor, with a compare-and-set that also checks
it still holds the lock. A crash or a failed turn leaves the cursor where it
was, so the page is pulled again by the next drain; a holder whose lock ran out
can no longer move the cursor. A callback that finds the lock taken leaves its
token in ``pending``; the holder looks at ``pending`` again after releasing,
so an event that arrives during a drain is never left unread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from adapters.wecom.client import Page
from bot.errors import DeliveryError
from bot.keys import Keys

log = logging.getLogger(__name__)

TOKEN_TTL_S = 600  # an event token is valid for 10 minutes
Fetch = Callable[[str, str, str], Awaitable[Page]]  # (open_kfid, cursor, token) -> page
Handle = Callable[[list[dict[str, Any]]], Awaitable[bool]]  # page -> every message done?

# KEYS: lock, cursor.  ARGV: owner, the cursor read, the next cursor.
_ADVANCE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local now = redis.call('GET', KEYS[2]) or ''
if now ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
"""
# KEYS: lock.  ARGV: owner, ttl ms.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: key.  ARGV: value.  Delete only if it still holds what we read.
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class SyncKeys:
    """The three keys of one kf account (one hash tag, so the scripts run on a cluster)."""

    cursor: str
    pending: str
    lock: str
    failures: str


class MessageSync:
    """Drains kf accounts' messages; see the module docstring for the protocol."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: Keys,
        *,
        corp_id: str,
        fetch: Fetch,
        handle: Handle,
        lock_ttl_s: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._corp_id = corp_id
        self._fetch = fetch
        self._handle = handle
        self._ttl_ms = int(lock_ttl_s * 1000)
        self._max_attempts = max_attempts
        self._owner = uuid.uuid4().hex  # this replica's drains
        self._advance = redis.register_script(_ADVANCE)
        self._renew = redis.register_script(_RENEW)
        self._delete_if = redis.register_script(_DELETE_IF)

    def keys_of(self, open_kfid: str) -> SyncKeys:
        """The Redis keys of ``open_kfid``'s sync state."""
        tag = f"wecom:{self._corp_id}:{open_kfid}"

        def key(kind: str) -> str:
            return self._keys.user_state("wecom", kind, tag)

        return SyncKeys(
            cursor=key("cursor"),
            pending=key("pending"),
            lock=key("synclock"),
            failures=key("syncfail"),
        )

    async def cursor(self, open_kfid: str) -> str:
        """The stored cursor ("" before the first page)."""
        raw = await self._redis.get(self.keys_of(open_kfid).cursor)
        return raw.decode() if isinstance(raw, bytes) else ""

    async def notify(self, open_kfid: str, token: str) -> bool:
        """An event arrived: drain unless another replica is draining; False if a page failed.

        True also when another replica holds the lock: it will read ``pending``.
        """
        k = self.keys_of(open_kfid)
        await self._redis.set(k.pending, token or "-", ex=TOKEN_TTL_S)
        while await self._redis.set(k.lock, self._owner, nx=True, px=self._ttl_ms):
            try:
                if not await self._drain_held(open_kfid, k):
                    return False  # left pending: the callback's retry or the next event drains
            finally:
                await self._delete_if(keys=[k.lock], args=[self._owner])
            if not await self._redis.exists(k.pending):
                return True  # nothing arrived while we held the lock
        return True

    async def _drain_held(self, open_kfid: str, k: SyncKeys) -> bool:
        """Drain while we hold the lock, renewing it; False if a page could not be finished."""
        keeper = asyncio.create_task(self._keep(k))
        try:
            while (raw := await self._redis.get(k.pending)) is not None:
                token = raw.decode() if isinstance(raw, bytes) else str(raw)
                if not await self._pages(open_kfid, token if token != "-" else "", k):
                    return False
                # a newer event's token stays: that means one more pass
                await self._delete_if(keys=[k.pending], args=[raw])
            return True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _pages(self, open_kfid: str, token: str, k: SyncKeys) -> bool:
        """Pull, handle and pass every page there is now."""
        while True:
            before = await self.cursor(open_kfid)
            try:
                page = await self._fetch(open_kfid, before, token)
            except DeliveryError as exc:
                log.error(
                    "wecom sync_msg failed", extra={"code": exc.code, "retryable": exc.retryable}
                )
                return False
            if not await self._handle(page.messages) and not await self._give_up(k, before):
                log.warning("wecom page not finished; the cursor stays", extra={"kf": open_kfid})
                return False
            moved = await self._advance(
                keys=[k.lock, k.cursor], args=[self._owner, before, page.next_cursor]
            )
            if not moved:  # our lock ran out and another replica took over: it goes on
                log.warning("wecom sync lock lost; another replica continues")
                return False
            await self._redis.delete(k.failures)
            if not page.has_more:
                return True

    async def _give_up(self, k: SyncKeys, cursor: str) -> bool:
        """Count a failed pass over the page at ``cursor``; True once it is the last allowed."""
        attempts = int(await self._redis.hincrby(k.failures, cursor or "-", 1))
        await self._redis.expire(k.failures, 86400)
        if attempts < self._max_attempts:
            return False
        log.error("wecom page given up after %d attempts; moving on", attempts)
        return True

    async def _keep(self, k: SyncKeys) -> None:
        """Renew the lock while a drain runs (a turn may take longer than the lock lives)."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            if not await self._renew(keys=[k.lock], args=[self._owner, self._ttl_ms]):
                return
