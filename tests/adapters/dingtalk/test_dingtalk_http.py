"""DingTalk HTTP outgoing mode: signatures, bad bodies, recorded payloads and settings."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from adapters import dingtalk
from adapters.dingtalk.inbound import sign, to_model, verify
from bot.errors import Forbidden
from service.plugins import add_platform
from tests.adapters.dingtalk.support import start_bot, until
from tests.fakes import dingtalk as fake
from tests.helpers import settled
from tests.platforms import dingtalk_settings


async def test_http_mode_signatures_and_bad_bodies(make_runtime, ding) -> None:
    rt, channel, client = await start_bot(make_runtime, ding, mode="http")
    body = json.dumps(fake.robot_message("hi", msg_id="h1", base_url=ding.base_url)).encode()
    ts = str(int(time.time() * 1000))
    good = {
        "timestamp": ts,
        "sign": sign(ts, fake.CLIENT_SECRET),
        "content-type": "application/json",
    }
    assert (await client.post("/webhooks/dingtalk", content=body, headers=good)).status_code == 200
    await until(lambda: ding.texts() == ["echo:hi"])
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
    await settled(rt)
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


def test_fake_signs_like_the_adapter_verifies() -> None:
    headers = fake.signed_headers()
    verify(headers, fake.CLIENT_SECRET)
    with pytest.raises(Forbidden):
        verify(fake.signed_headers("other"), fake.CLIENT_SECRET)


async def test_an_unknown_mode_is_refused(make_runtime) -> None:
    rt = await make_runtime()
    with pytest.raises(ValueError, match="DINGTALK_MODE"):
        add_platform(rt, dingtalk.PLATFORM, dingtalk_settings("http://127.0.0.1:1", mode="webhook"))


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
    rt, channel, client = await start_bot(make_runtime, ding, mode="http")
    response = await client.post("/webhooks/dingtalk", content=body, headers=fake.signed_headers())
    await settled(rt)
    assert response.status_code in (200, 400), response.text
    await channel.stop()


async def test_a_callback_without_sender_or_webhook_is_refused(make_runtime, ding) -> None:
    rt, channel, client = await start_bot(make_runtime, ding, mode="http")
    data = fake.robot_message("hi", msg_id="nobody1", base_url=ding.base_url)
    for field in ("senderStaffId", "senderId", "sessionWebhook"):
        del data[field]
    body = json.dumps(data).encode()
    response = await client.post("/webhooks/dingtalk", content=body, headers=fake.signed_headers())
    assert response.status_code == 400
    await settled(rt)
    assert ding.received == []  # nothing was sent anywhere
    await channel.stop()
