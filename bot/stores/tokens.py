"""Platform access tokens shared by every replica, refreshed by one at a time.

WeChat and DingTalk both hand out tokens that a refresh invalidates, so all
replicas read one copy in Redis; the replica that finds it missing or
stale takes a ``SET NX`` lock, checks again (another may just have
refreshed), and only then fetches. The others wait and re-read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from bot.errors import DeliveryError

Fetch = Callable[[], Awaitable[tuple[str, int]]]  # -> (token, expires in seconds)


class SharedToken:
    """One platform credential's token."""

    def __init__(self, redis: aioredis.Redis, *, key: str, fetch: Fetch, platform: str) -> None:
        self._redis = redis
        self._key = key
        self._lock = f"{key}:lock"
        self._fetch = fetch
        self._platform = platform

    async def get(self, *, stale: str | None = None) -> str:
        """A valid token; ``stale`` names one the platform just refused."""
        for _ in range(50):
            if token := await self._cached(stale):
                return token
            if await self._redis.set(self._lock, b"1", nx=True, ex=10):
                try:
                    return await self._cached(stale) or await self._refresh()
                finally:
                    await self._redis.delete(self._lock)
            await asyncio.sleep(0.1)  # another replica is refreshing: wait and re-read
        raise DeliveryError(
            "could not obtain an access token", platform=self._platform, retryable=True
        )

    async def _cached(self, stale: str | None) -> str | None:
        raw = await self._redis.get(self._key)
        if raw is None:
            return None
        cached = json.loads(raw)
        fresh = cached["token"] != stale and cached["expires_at"] - time.time() > 60
        return str(cached["token"]) if fresh else None

    async def _refresh(self) -> str:
        token, expires_in = await self._fetch()
        value = {"token": token, "expires_at": time.time() + expires_in}
        await self._redis.set(self._key, json.dumps(value), ex=max(1, expires_in))
        return token
