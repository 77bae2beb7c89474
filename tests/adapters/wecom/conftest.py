"""The fake kf API, one per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.wecom import FakeWeCom


@pytest.fixture
async def kf() -> AsyncIterator[FakeWeCom]:
    server = await FakeWeCom().start()
    yield server
    await server.stop()
