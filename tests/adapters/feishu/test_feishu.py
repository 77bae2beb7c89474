"""Feishu scenarios against the fake open API: real signatures, AES, Redis and replicas."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.adapters.feishu.support import bot, post
from tests.fakes import feishu as fake
from tests.fakes.feishu import FakeFeishu
from tests.helpers import settled, until


@pytest.fixture
async def feishu_api() -> AsyncIterator[FakeFeishu]:
    server = await FakeFeishu().start()
    yield server
    await server.stop()


async def test_url_verification_plain_and_encrypted(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    _, _, client = await bot(make_runtime, feishu_api)
    plain = json.dumps(fake.challenge("c-plain")).encode()
    answer = await client.post("/webhooks/feishu", content=plain)
    assert answer.status_code == 200 and answer.json() == {"challenge": "c-plain"}
    hidden = fake.encrypted(fake.challenge("c-secret"))
    answer = await client.post("/webhooks/feishu", content=hidden)
    assert answer.json() == {"challenge": "c-secret"}
    forged = json.dumps(fake.challenge("c-x", token="not-the-token")).encode()
    assert (await client.post("/webhooks/feishu", content=forged)).status_code == 403


async def test_forged_stale_malformed_and_oversized(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt, _, client = await bot(make_runtime, feishu_api)
    body = fake.encrypted(fake.message_event("hi", event_id="ev-bad"))
    url = "/webhooks/feishu"
    forged = await client.post(url, content=body, headers=fake.signed(body, key="wrong"))
    assert forged.status_code == 401
    unsigned = await client.post(url, content=body)
    assert unsigned.status_code == 401
    stale = fake.signed(body, timestamp=int(time.time()) - 600)
    assert (await client.post(url, content=body, headers=stale)).status_code == 401
    # signed right, but the payload's verification token is not the app's
    other = fake.encrypted(fake.message_event("hi", event_id="ev-tok", token="stolen"))
    assert (await client.post(url, content=other, headers=fake.signed(other))).status_code == 403
    for garbage in (b"{not json", b"[1, 2]", b'{"encrypt": "!!not base64!!"}'):
        response = await client.post(url, content=garbage, headers=fake.signed(garbage))
        assert response.status_code == 400, garbage
    big = b"x" * 2_000_000
    assert (await client.post(url, content=big, headers=fake.signed(big))).status_code == 413
    await settled(rt)
    assert feishu_api.sent() == []


async def test_fields_of_the_wrong_type_are_read_around_never_a_500(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    # found by tests/fuzz/test_webhooks_fuzz_cn.py: each of these once raised a 500
    rt, _, client = await bot(make_runtime, feishu_api)
    odd_sender = fake.message_event("one", event_id="ev-odd-sender")
    odd_sender["event"]["sender"]["sender_id"] = "ou_not_an_object"
    odd_mentions = fake.message_event("two", event_id="ev-odd-mentions")
    odd_mentions["event"]["message"]["mentions"] = 7
    for event in (odd_sender, odd_mentions):
        assert (await post(client, event)).status_code == 200
    await settled(rt)
    assert sorted(feishu_api.texts()) == ["echo:one", "echo:two"]


async def test_a_lone_surrogate_is_a_malformed_event(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    # valid JSON, but no text: it once failed the reply and the records' batch, not the request
    rt, _, client = await bot(make_runtime, feishu_api)
    assert (
        await post(client, fake.message_event("a\ud800b", event_id="ev-sur"))
    ).status_code == 400
    await settled(rt)
    assert feishu_api.sent() == []


async def test_p2p_message_gets_one_reply_and_retries_get_none(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt, _, client = await bot(make_runtime, feishu_api)
    event = fake.message_event("你好", event_id="ev-p2p-1")
    assert (await post(client, event)).status_code == 200
    assert (await post(client, event)).status_code == 200  # Feishu's retry: same event_id
    await until(lambda: len(feishu_api.sent()) >= 1)
    await settled(rt)
    (send,) = feishu_api.sent()
    assert feishu_api.calls[0][0] == "send" and send["receive_id"] == "oc_p2p_1"
    assert json.loads(send["content"]) == {"text": "echo:你好"} and send["msg_type"] == "text"
    assert feishu_api.token_fetches == 1


async def test_group_mention_is_answered_in_its_thread(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt, _, client = await bot(make_runtime, feishu_api)
    chatter = fake.message_event(
        "not for the bot", event_id="ev-g0", chat_id="oc_group", chat_type="group"
    )
    assert (await post(client, chatter)).status_code == 200
    threaded = fake.message_event(
        "where is my order",
        event_id="ev-g1",
        mention_bot=True,
        message_id="om_q1",
        thread_id="omt_1",
        root_id="om_root",
        chat_id="oc_group",
        chat_type="group",
    )
    assert (await post(client, threaded)).status_code == 200
    await until(lambda: len(feishu_api.sent()) >= 1)
    plain = fake.message_event(
        "hello",
        event_id="ev-g2",
        mention_bot=True,
        message_id="om_q2",
        chat_id="oc_group",
        chat_type="group",
    )
    await post(client, plain)
    await until(lambda: len(feishu_api.sent()) >= 2)
    await settled(rt)
    first, second = feishu_api.sent("reply")
    assert first["message_id"] == "om_q1" and first["reply_in_thread"] is True
    assert json.loads(first["content"]) == {"text": "echo:where is my order"}  # mention stripped
    assert second["message_id"] == "om_q2" and second["reply_in_thread"] is False
    assert feishu_api.sent("send") == []  # the chatter got nothing


async def test_a_redelivery_to_another_replica_is_answered_once(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt_a, _, a = await bot(make_runtime, feishu_api)
    rt_b, _, b = await bot(make_runtime, feishu_api)
    event = fake.message_event("只回一次", event_id="ev-twice")
    answers = [await post(a, event), await post(b, event)]
    assert [r.status_code for r in answers] == [200, 200]
    await until(lambda: len(feishu_api.sent()) >= 1)
    await settled(rt_a, rt_b)
    assert feishu_api.texts() == ["echo:只回一次"]
    assert feishu_api.token_fetches == 1  # the token is shared through Redis


async def test_bot_and_app_messages_are_ignored(make_runtime: Any, feishu_api: FakeFeishu) -> None:
    rt, _, client = await bot(make_runtime, feishu_api)
    own = fake.message_event("from the bot", event_id="ev-own", sender_type="app")
    assert (await post(client, own)).status_code == 200
    other = {**fake.message_event("x", event_id="ev-other")}
    other["header"] = {**other["header"], "event_type": "im.chat.member.bot.added_v1"}
    assert (await post(client, other)).status_code == 200
    await settled(rt)
    assert feishu_api.sent() == []
