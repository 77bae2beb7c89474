"""DingTalk scenarios: Stream gateway and HTTP outgoing mode against a fake in its own thread."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.dingtalk import build_channel
from adapters.dingtalk.inbound import sign, to_model, verify
from adapters.dingtalk.render import openapi_message, webhook_message
from bot.app import create_app
from bot.errors import DeliveryError, Forbidden
from bot.models import Button, Card, Reply
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
    ack = next(a for a in ding.acks if a["headers"]["messageId"] == first)
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"response": None}
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


FIXTURES = Path(__file__).parents[2] / "fixtures" / "dingtalk"


def test_recorded_payloads_map_onto_the_model() -> None:
    group = to_model(json.loads((FIXTURES / "group_mention.json").read_text()))
    assert group.text == "我的订单到哪了"  # the @-mention's leading space is gone
    assert group.message_id == "msgP8Jx3lq5UVLg0Y1ZQfRZ5Q=="
    assert group.address.conversation_id == "cidG7vS1kFm0aZ+Xq2w5P8d9A=="
    assert group.address.extra["conversation_type"] == "2"
    assert group.address.extra["session_webhook_expires_ms"] == "1700003600000"
    frame = json.loads((FIXTURES / "stream_callback_frame.json").read_text())
    one = to_model(json.loads(frame["data"]))
    assert (one.text, one.address.user_id) == ("退货怎么办理", "user0231")
    assert one.address.extra["session_webhook"].startswith("https://oapi.dingtalk.com/")


async def test_expired_webhook_in_a_1to1_chat_uses_batch_send_with_one_token(
    make_runtime, ding
) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    for i in range(2):
        ding.push(
            fake.robot_message(f"q{i}", msg_id=f"o{i}", base_url=ding.base_url, webhook_valid=False)
        )
        await _until(lambda n=i: len(ding.sent) == n + 1)
    await rt.drain(5)
    assert [path for path, _ in ding.sent] == ["/v1.0/robot/oToMessages/batchSend"] * 2
    assert ding.sent[0][1]["userIds"] == ["staff1"] and ding.sent[0][1]["msgKey"] == "sampleText"
    assert ding.texts() == ["echo:q0", "echo:q1"]
    assert ding.token_fetches == 1
    assert await rt.redis.get(f"{rt.settings.redis_prefix}:dingtalk:token:{fake.CLIENT_ID}")
    await channel.stop()


async def test_exhausted_retries_are_reported_not_lost(make_runtime, ding, caplog) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    ding.fail_next = [503, 429, 500, 500]  # more failures than the retry policy's attempts
    ding.push(fake.robot_message("doomed", msg_id="x1", base_url=ding.base_url))
    await _until(lambda: len(ding.received) >= 4)
    await rt.drain(5)
    assert ding.sent == []
    assert len([r for r in ding.received if r[0].startswith("/session/")]) == 4
    assert any(r.getMessage() == "reply not delivered" for r in caplog.records)
    with pytest.raises(DeliveryError) as err:
        ding.fail_next = [500] * 4
        await channel.outbound.send_to_users(["staff1"], Reply("x"))
    assert err.value.retryable and err.value.code == "500"
    await channel.stop()


async def test_ping_is_echoed_and_stop_is_clean(make_runtime, ding) -> None:
    threads = {t.name for t in threading.enumerate()}
    rt, channel, _ = await _bot(make_runtime, ding)
    frame = ding.ping()
    await _until(lambda: any(a["headers"]["messageId"] == frame for a in ding.acks))
    echo = next(a for a in ding.acks if a["headers"]["messageId"] == frame)
    assert json.loads(echo["data"]) == {"opaque": frame}
    ding.push(fake.robot_message("bye", msg_id="s1", base_url=ding.base_url))
    await _until(lambda: ding.texts() == ["echo:bye"])
    await rt.drain(5)
    await channel.stop()
    await _until(lambda: ding.open_sockets == 0)
    lingering = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("dingtalk")]
    assert lingering == []
    # The loop's default executor (DNS lookups) and the runtime's record writer may keep a
    # worker; the adapter itself leaves no thread behind.
    extra = [t.name for t in threading.enumerate() if t.name not in threads]
    assert [n for n in extra if not n.startswith(("asyncio_", "records-"))] == []


async def test_staff_group_goes_to_the_staff_handler_not_the_pipeline(make_runtime, ding) -> None:
    rt = await make_runtime(
        dingtalk_client_id=fake.CLIENT_ID,
        dingtalk_client_secret=SecretStr(fake.CLIENT_SECRET),
        dingtalk_api_base_url=ding.base_url,
        escalation_channel="dingtalk:cidSTAFF",
    )
    channel = build_channel(rt.settings)
    rt.add_channels([channel])
    rt.use(brain=Echo())
    seen: list[dict[str, Any]] = []

    async def staff(event: dict[str, Any]) -> None:
        seen.append(event)

    channel.staff_handler = staff
    await channel.start(rt)
    assert channel.stream is not None
    await asyncio.wait_for(channel.stream.connected.wait(), 5)
    ding.push(
        fake.robot_message(
            "claim T-1", msg_id="st1", base_url=ding.base_url, conversation="cidSTAFF", group=True
        )
    )
    await _until(lambda: len(seen) == 1)
    await rt.drain(5)
    assert seen[0]["text"] == "claim T-1" and seen[0]["user_id"] == "staff1"
    assert seen[0]["conversation_id"] == "cidSTAFF"
    assert ding.sent == []  # no bot reply to agents' commands
    await channel.outbound.send_group(
        "cidSTAFF",
        Reply("工单 T-1", buttons=(Button("认领", "claim T-1"), Button("关闭", "close"))),
    )
    path, body = ding.sent[0]
    assert path == "/v1.0/robot/groupMessages/send" and body["msgKey"] == "sampleActionCard2"
    param = json.loads(body["msgParam"])
    assert param["actionURL1"] == "dtmd://dingtalkclient/sendMessage?content=claim%20T-1"
    await channel.stop()


def test_cards_render_as_markdown() -> None:
    reply = Reply("订单", card=Card("订单 123", "已发货", fields=(("快递", "SF"),)))
    assert webhook_message(reply)["msgtype"] == "markdown"
    key, param = openapi_message(reply)
    assert key == "sampleMarkdown" and "**快递**: SF" in json.loads(param)["text"]
    many = Reply("选一个", buttons=tuple(Button(str(i), str(i)) for i in range(7)))
    assert openapi_message(many)[0] == "sampleText"  # past five buttons: a numbered menu


def test_fake_signs_like_the_adapter_verifies() -> None:
    headers = fake.signed_headers()
    verify(headers, fake.CLIENT_SECRET)
    with pytest.raises(Forbidden):
        verify(fake.signed_headers("other"), fake.CLIENT_SECRET)


async def test_a_refused_session_webhook_falls_back_to_the_openapi(make_runtime, ding) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    ding.webhooks_expired = True  # valid by its timestamp, but DingTalk says it expired
    ding.push(fake.robot_message("late", msg_id="w1", base_url=ding.base_url))
    await _until(lambda: len(ding.sent) == 1)
    await rt.drain(5)
    assert ding.sent[0][0] == "/v1.0/robot/oToMessages/batchSend"
    assert ding.texts() == ["echo:late"]
    assert [r[0] for r in ding.received if r[0].startswith("/session/")] == ["/session/cidU1"]
    await channel.stop()


async def test_an_unknown_mode_is_refused(make_runtime) -> None:
    rt = await make_runtime(
        dingtalk_client_id=fake.CLIENT_ID,
        dingtalk_client_secret=SecretStr(fake.CLIENT_SECRET),
        dingtalk_mode="webhook",
    )
    with pytest.raises(ValueError, match="DINGTALK_MODE"):
        build_channel(rt.settings)


async def test_the_stream_reconnects_after_a_gateway_disconnect(make_runtime, ding) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    ding.disconnect()
    await _until(lambda: ding.connections == 2 and ding.open_sockets == 1, seconds=8)
    ding.push(fake.robot_message("again", msg_id="rc1", base_url=ding.base_url))
    await _until(lambda: ding.texts() == ["echo:again"])
    await rt.drain(5)
    await channel.stop()


HOSTILE = [
    b"[]",
    b'"text"',
    b"\xff\xfe{",
    b"[" * 5000 + b"]" * 5000,
    b'{"msgId": 1, "conversationId": {}}',
    b'{"msgId": "x", "conversationId": "c", "text": "not an object"}',
    b'{"msgId": "x", "conversationId": "c", "text": {"content": 5}, "conversationType": null}',
    b'{"msgId": "x", "conversationId": "c", "msgtype": "picture", "content": []}',
    b'{"msgId": "x", "conversationId": "c", "sessionWebhookExpiredTime": "soon"}',
    b'{"msgId": "x", "conversationId": "c", "atUsers": "everyone", "senderNick": []}',
]


@pytest.mark.parametrize("body", HOSTILE)
async def test_signed_hostile_bodies_never_get_a_500(make_runtime, ding, body: bytes) -> None:
    rt, channel, client = await _bot(make_runtime, ding, mode="http")
    response = await client.post("/webhooks/dingtalk", content=body, headers=fake.signed_headers())
    await rt.drain(5)
    assert response.status_code in (200, 400), response.text
    await channel.stop()


async def test_a_malformed_stream_message_is_acked_and_the_stream_lives_on(
    make_runtime, ding
) -> None:
    rt, channel, _ = await _bot(make_runtime, ding)
    bad = ding.push({"msgId": "bad1", "conversationId": "cidU1", "text": "not an object"})
    await _until(lambda: any(a["headers"]["messageId"] == bad for a in ding.acks))
    ding.push(fake.robot_message("still here", msg_id="ok1", base_url=ding.base_url))
    await _until(lambda: ding.texts() == ["echo:still here"])
    await rt.drain(5)
    assert ding.connections == 1
    await channel.stop()
