"""The whole system as processes: fake platforms, N ``bot serve`` replicas, one Redis."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import until
from tests.system.cluster import Replica
from tests.system.ledger import Ledger
from tests.system.load import Platforms

# Load tests measure the bot, not the per-user limit (tests/core covers that).
GENEROUS = {"per_minute": 100_000, "burst": 1_000}


def replica_env(platforms: Platforms, redis_url: str, model: Path, data: Path) -> dict[str, str]:
    """One replica's environment: the fakes, the shared Redis and model, its own data dir."""
    return {
        **platforms.env(),
        "REDIS_URL": redis_url,
        "MODEL_DIR": str(model),
        "BOT_DATA_DIR": str(data),
        "LOG_LEVEL": "WARNING",
        "NLU_CACHE_SIZE": "0",  # every message is parsed, as with real, varied traffic
        "RATE_LIMITS": json.dumps({p: GENEROUS for p in ("wechat", "slack", "dingtalk")}),
    }


@dataclass
class Stack:
    """Fakes and replicas on ``redis_url``; ``async with`` starts and stops them all."""

    redis_url: str
    model: Path
    replicas: int = 2
    redeliver_after_s: float = 10.0
    extra_env: dict[str, str] = field(default_factory=dict)
    nodes: list[Replica] = field(default_factory=list)
    platforms: Platforms | None = None
    work: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="stack-")))

    async def __aenter__(self) -> Stack:
        self.platforms = await Platforms(Ledger(), redeliver_after_s=self.redeliver_after_s).start()
        for i in range(self.replicas):
            env = replica_env(self.platforms, self.redis_url, self.model, self.work / f"data{i}")
            self.nodes.append(Replica(f"replica{i}", {**env, **self.extra_env}))
        try:
            for node in self.nodes:
                node.start(self.work)
            for node in self.nodes:
                await asyncio.to_thread(node.wait_ready, 300)
            # DingTalk stream connections open just after /readyz: one socket per replica
            dingtalk = self.platforms.dingtalk
            await until(lambda: dingtalk.open_sockets >= self.replicas, seconds=120)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for node in self.nodes:
            await asyncio.to_thread(node.stop)
        if self.platforms is not None:
            await self.platforms.stop()
        shutil.rmtree(self.work, ignore_errors=True)

    def urls(self) -> list[str]:
        """Replicas a load balancer would route to now: the running ones."""
        return [node.url for node in self.nodes if node.alive]

    def logs(self) -> str:
        """Every replica's output so far, for a failing test's message."""
        return "\n".join(
            node.log_path.read_text(errors="replace")[-4000:]
            for node in self.nodes
            if node.log_path is not None and node.log_path.exists()
        )
