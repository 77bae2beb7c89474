"""The bundled bot, wired as `bot test` wires it, for the dialog tests that talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import RateLimitRule
from dialog import testing
from service.bootstrap import wire
from service.plugins import platform_names
from tests.conftest import make_client


@pytest.fixture
async def bundled_bot(bot_settings, redis_target, redis_client) -> AsyncIterator[Runtime]:
    """A started runtime with the bundled bot's model; no rate limit gets in a script's way."""
    settings = bot_settings.model_copy(
        update={"rate_limit": RateLimitRule(per_minute=100_000, burst=10_000), "rate_limits": {}}
    )
    runtime = wire(
        Runtime(settings, RedisHandle(make_client(redis_target), "test")),
        console_write=lambda _: None,
    )
    testing.prepare(runtime, platform_names())
    await runtime.start()
    yield runtime
    await runtime.stop()
