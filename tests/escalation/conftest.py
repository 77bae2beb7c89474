"""Fixtures of the escalation scenarios: both fake platforms."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.slack import FakeSlack
from tests.fakes.wechat import FakeWeChat


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeWeChat, FakeSlack]]:
    wechat, slack = await FakeWeChat().start(), await FakeSlack().start()
    yield wechat, slack
    await wechat.stop()
    await slack.stop()
