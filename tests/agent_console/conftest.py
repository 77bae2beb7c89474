"""Fixtures of the console scenarios: the fake WeChat platform, two real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.runtime import Runtime
from tests.adapters.web.test_webchat import _serve
from tests.agent_console.support import add_agent, console_replica
from tests.fakes.wechat import FakeWeChat


@pytest.fixture
async def wechat() -> AsyncIterator[FakeWeChat]:
    fake = await FakeWeChat().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def servers(make_runtime) -> AsyncIterator[list[tuple[Runtime, int]]]:
    """Two replicas with the console, each behind a real uvicorn server; agent alice exists."""
    out, running = [], []
    for _ in range(2):
        rt, _client = await console_replica(make_runtime)
        server, task, port = await _serve(rt)
        running.append((server, task))
        out.append((rt, port))
    await add_agent(out[0][0], "alice")
    yield out
    for server, task in running:
        server.should_exit = True
        await task
