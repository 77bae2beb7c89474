"""The bundled bot, wired as `bot test` wires it, for the dialog tests that talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.agent_console import agent_store
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import RateLimitRule
from dialog import testing
from service.bootstrap import wire
from service.plugins import platform_names
from tests.conftest import make_client


@pytest.fixture
async def bundled_bot(bot_settings, redis_target, redis_client) -> AsyncIterator[Runtime]:
    """A started runtime with the bundled bot's model and one console agent; no rate limit
    gets in a script's way."""
    settings = bot_settings.model_copy(
        update={"rate_limit": RateLimitRule(per_minute=100_000, burst=10_000), "rate_limits": {}}
    )
    runtime = wire(
        Runtime(settings, RedisHandle(make_client(redis_target), "test")),
        console_write=lambda _: None,
    )
    testing.prepare(runtime, platform_names())
    await runtime.start()
    # someone can sign in to the console, so escalations open tickets there (without an
    # account the customer is told nobody can take over: tests/agent_console)
    await agent_store(runtime.host("console")).add("alice", "correct horse battery")
    yield runtime
    await runtime.stop()
