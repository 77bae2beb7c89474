"""Long-connection mode: lark-oapi's own ws client against the fake's protobuf frames."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.adapters.feishu.support import bot
from tests.fakes import feishu as fake
from tests.fakes.feishu import FakeFeishu
from tests.helpers import settled, until


@pytest.fixture
async def feishu_api() -> AsyncIterator[FakeFeishu]:
    server = await FakeFeishu().start()
    yield server
    await server.stop()


async def test_events_over_the_long_connection_are_acked_and_answered_once(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt, channel, client = await bot(make_runtime, feishu_api, own={"mode": "ws"})
    assert (await client.post("/webhooks/feishu", content=b"{}")).status_code == 404
    await until(lambda: bool(feishu_api.sockets))
    event = fake.message_event("长连接你好", event_id="ev-ws-1")
    await feishu_api.push(event, frame_id="f-1")
    await feishu_api.push(event, frame_id="f-2")  # a redelivery of the same event
    await until(lambda: {a["message_id"] for a in feishu_api.acks} >= {"f-1", "f-2"})
    assert {a["code"] for a in feishu_api.acks} == {200}
    await until(lambda: len(feishu_api.sent()) >= 1)
    await settled(rt)
    assert feishu_api.texts() == ["echo:长连接你好"]
    assert json.loads(feishu_api.sent()[0]["content"]) == {"text": "echo:长连接你好"}
    await channel.stop()
    await until(lambda: not feishu_api.sockets)
