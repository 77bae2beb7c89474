"""The ASGI app's own endpoints, in-process."""

from __future__ import annotations

import httpx
import redis.asyncio as aioredis

from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from service.app import create_app
from tests.helpers import RecordingChannel, message


async def test_health_ready_and_metrics(make_runtime) -> None:
    rt = await make_runtime()
    rt.add_channels([RecordingChannel()])
    await rt.pipeline.handle(message("hi", mid="m1"), rt.outbound)
    app = create_app(rt)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        assert (await c.get("/healthz")).text == "ok"
        ready = await c.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"redis": True}
        metrics = (await c.get("/metrics")).text
    assert 'bot_messages_in_total{platform="test"}' in metrics
    assert "bot_lock_wait_seconds_bucket" in metrics
    assert 'bot_pipeline_outcomes_total{outcome="replied",platform="test"}' in metrics


async def test_readyz_fails_when_redis_is_down(settings) -> None:
    dead = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    rt = Runtime(settings, RedisHandle(dead, "dead"))
    rt.add_readiness_check("model", lambda: _true())
    app = create_app(rt)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        ready = await c.get("/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"redis": False, "model": True}
    await dead.aclose()


async def _true() -> bool:
    return True


async def test_shutdown_drains_background_turns(make_runtime) -> None:
    from tests.core.test_pipeline import SlowEcho

    rt = await make_runtime()
    channel = RecordingChannel()
    rt.add_channels([channel])
    rt.use(brain=SlowEcho(delay=0.3))
    # an adapter acked the platform and handed the turn to the runtime
    rt.spawn(rt.pipeline.handle(message("late", mid="m1"), rt.outbound))
    assert await rt.drain(timeout_s=5) == 0
    assert channel.outbound.texts() == ["echo:late"]
