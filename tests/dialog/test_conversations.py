"""The bundled bot's conversation scripts, run by the same runner as `bot test`."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import wire
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import RateLimitRule
from dialog import testing
from tests.conftest import make_client

SCRIPTS = Path(__file__).resolve().parents[1] / "conversations"


async def test_bundled_conversations_pass(bot_settings, redis_target, redis_client) -> None:
    settings = bot_settings.model_copy(
        update={"rate_limit": RateLimitRule(per_minute=100_000, burst=10_000), "rate_limits": {}}
    )
    runtime = wire(
        Runtime(settings, RedisHandle(make_client(redis_target), "test")),
        console_write=lambda _: None,
    )
    testing.prepare(runtime)
    await runtime.start()
    try:
        conversations = testing.load_scripts([SCRIPTS])
        assert len(conversations) >= 40
        outcome = await testing.run(runtime, conversations)
    finally:
        await runtime.stop()
    assert outcome.failed == 0, testing.report(outcome)
    assert outcome.passed == len(conversations)
