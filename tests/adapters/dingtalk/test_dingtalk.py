"""DingTalk scenarios: Stream gateway and HTTP outgoing mode against a fake in its own thread."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.dingtalk import build_channel
from adapters.dingtalk.inbound import sign
from bot.app import create_app
from bot.models import Button
from bot.turn import Turn
from tests.fakes import dingtalk as fake
from tests.fakes.dingtalk import FakeDingTalk


class Echo:
    async def respond(self, turn: Turn) -> None:
        text = turn.message.text
        turn.say(
            f"echo:{text}", buttons=(Button("查订单", "/order_status"),) if text == "menu" else ()
        )


@pytest.fixture
def ding() -> Iterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()


async def _bot(
    make_runtime, ding: FakeDingTalk, mode: str = "stream"
) -> tuple[Any, Any, httpx.AsyncClient]:
    rt = await make_runtime(
        dingtalk_client_id=fake.CLIENT_ID,
        dingtalk_client_secret=SecretStr(fake.CLIENT_SECRET),
        dingtalk_api_base_url=ding.base_url,
        dingtalk_mode=mode,
    )
    channel = build_channel(rt.settings)
    rt.add_channels([channel])
    rt.use(brain=Echo())
    await channel.start(rt)
    if channel.stream is not None:
        await asyncio.wait_for(channel.stream.connected.wait(), 5)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    return rt, channel, client


async def _until(predicate: Any, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_stream_message_is_acked_and_answered_once(make_runtime, ding) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    data = fake.robot_message("你好", msg_id="msgA", base_url=ding.base_url)
    first = ding.push(data, frame_id="m-1")
    await _until(lambda: any(a["headers"]["messageId"] == first for a in ding.acks))
    await _until(lambda: ding.texts() == ["echo:你好"])
    again = ding.push(data, frame_id="m-2")  # a redelivery: new frame id, same msgId
    await _until(lambda: any(a["headers"]["messageId"] == again for a in ding.acks))
    await rt.drain(5)
    assert ding.texts() == ["echo:你好"]
    assert ding.sent[0][0] == "/session/cidU1"
    await channel.stop()


async def test_group_mention_and_expired_webhook_use_the_openapi_with_one_token(
    make_runtime, ding
) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    for i in range(2):
        ding.push(
            fake.robot_message(
                f"第{i}条",
                msg_id=f"g{i}",
                base_url=ding.base_url,
                conversation="cidG",
                group=True,
                webhook_valid=False,
            )
        )
    await _until(lambda: len(ding.sent) == 2)
    await rt.drain(5)
    assert {path for path, _ in ding.sent} == {"/v1.0/robot/groupMessages/send"}
    assert sorted(ding.texts()) == ["echo:第0条", "echo:第1条"]
    assert ding.token_fetches == 1  # cached in Redis
    await channel.stop()


async def test_buttons_become_an_action_card(make_runtime, ding) -> None:
    _, channel, _ = await _bot(make_runtime, ding)
    ding.push(fake.robot_message("menu", msg_id="b1", base_url=ding.base_url))
    await _until(lambda: len(ding.sent) == 1)
    body = ding.sent[0][1]
    assert body["msgtype"] == "actionCard"
    assert body["actionCard"]["btns"][0]["actionURL"].endswith("content=/order_status")
    await channel.stop()


async def test_http_mode_signatures_and_bad_bodies(make_runtime, ding) -> None:
    rt, channel, client = await _bot(make_runtime, ding, mode="http")
    body = json.dumps(fake.robot_message("hi", msg_id="h1", base_url=ding.base_url)).encode()
    ts = str(int(time.time() * 1000))
    good = {
        "timestamp": ts,
        "sign": sign(ts, fake.CLIENT_SECRET),
        "content-type": "application/json",
    }
    assert (await client.post("/webhooks/dingtalk", content=body, headers=good)).status_code == 200
    await _until(lambda: ding.texts() == ["echo:hi"])
    forged = {**good, "sign": sign(ts, "wrong")}
    assert (
        await client.post("/webhooks/dingtalk", content=body, headers=forged)
    ).status_code == 403
    old = str(int(time.time() * 1000) - 2 * 3600_000)
    stale = {"timestamp": old, "sign": sign(old, fake.CLIENT_SECRET)}
    assert (await client.post("/webhooks/dingtalk", content=body, headers=stale)).status_code == 403
    assert (
        await client.post("/webhooks/dingtalk", content=b"{oops", headers=good)
    ).status_code == 400
    assert (await client.post("/webhooks/dingtalk", content=b"{}", headers=good)).status_code == 400
    assert (
        await client.post("/webhooks/dingtalk", content=b"x" * 2_000_000, headers=good)
    ).status_code == 413
    await rt.drain(5)
    await channel.stop()


async def test_platform_errors_are_retried(make_runtime, ding) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    ding.fail_next = [500, 429]
    ding.push(fake.robot_message("retry", msg_id="r1", base_url=ding.base_url))
    await _until(lambda: ding.texts() == ["echo:retry"])
    await rt.drain(5)
    await channel.stop()
