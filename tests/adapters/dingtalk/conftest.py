"""The fake DingTalk for every scenario in this folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.dingtalk import FakeDingTalk


@pytest.fixture
def ding() -> Iterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()
