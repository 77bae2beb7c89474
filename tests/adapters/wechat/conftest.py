"""The fake WeChat API, one per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.wechat import FakeWeChat


@pytest.fixture
async def wechat_api() -> AsyncIterator[FakeWeChat]:
    server = await FakeWeChat().start()
    yield server
    await server.stop()
