"""DingTalk Stream mode: acks, redelivery, group mentions, pings, reconnects and a clean stop."""

from __future__ import annotations

import asyncio
import json
import threading

from bot.texts import text
from tests.adapters.dingtalk.support import start_bot, until
from tests.fakes import dingtalk as fake
from tests.helpers import settled


async def test_stream_message_is_acked_and_answered_once(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    data = fake.robot_message("你好", msg_id="msgA", base_url=ding.base_url)
    first = ding.push(data, frame_id="m-1")
    await until(lambda: any(a["headers"]["messageId"] == first for a in ding.acks))
    await until(lambda: ding.texts() == ["echo:你好"])
    ack = next(a for a in ding.acks if a["headers"]["messageId"] == first)
    assert ack["code"] == 200 and json.loads(ack["data"]) == {"response": None}
    again = ding.push(data, frame_id="m-2")  # a redelivery: new frame id, same msgId
    await until(lambda: any(a["headers"]["messageId"] == again for a in ding.acks))
    await settled(rt)
    assert ding.texts() == ["echo:你好"]
    assert ding.sent[0][0] == "/session/cidU1"
    await channel.stop()


async def test_group_mention_and_expired_webhook_use_the_openapi_with_one_token(
    make_runtime, ding
) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
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
    await until(lambda: len(ding.sent) == 2)
    await settled(rt)
    assert {path for path, _ in ding.sent} == {"/v1.0/robot/groupMessages/send"}
    assert sorted(ding.texts()) == ["echo:第0条", "echo:第1条"]
    assert ding.token_fetches == 1  # cached in Redis
    await channel.stop()


async def test_buttons_become_an_action_card(make_runtime, ding) -> None:
    _, channel, _ = await start_bot(make_runtime, ding)
    ding.push(fake.robot_message("menu", msg_id="b1", base_url=ding.base_url))
    await until(lambda: len(ding.sent) == 1)
    body = ding.sent[0][1]
    assert body["msgtype"] == "actionCard"
    assert body["actionCard"]["btns"][0]["actionURL"].endswith("content=/order_status")
    await channel.stop()


async def test_ping_is_echoed_and_stop_is_clean(make_runtime, ding) -> None:
    threads = {t.name for t in threading.enumerate()}
    rt, channel, _ = await start_bot(make_runtime, ding)
    frame = ding.ping()
    await until(lambda: any(a["headers"]["messageId"] == frame for a in ding.acks))
    echo = next(a for a in ding.acks if a["headers"]["messageId"] == frame)
    assert json.loads(echo["data"]) == {"opaque": frame}
    ding.push(fake.robot_message("bye", msg_id="s1", base_url=ding.base_url))
    await until(lambda: ding.texts() == ["echo:bye"])
    await settled(rt)
    await channel.stop()
    await until(lambda: ding.open_sockets == 0)
    lingering = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("dingtalk")]
    assert lingering == []
    # The loop's default executor (DNS lookups) and the runtime's record writer may keep a
    # worker; the adapter itself leaves no thread behind.
    extra = [t.name for t in threading.enumerate() if t.name not in threads]
    assert [n for n in extra if not n.startswith(("asyncio_", "records-"))] == []


async def test_the_stream_reconnects_after_a_gateway_disconnect(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.disconnect()
    await until(lambda: ding.connections == 2 and ding.open_sockets == 1)
    ding.push(fake.robot_message("again", msg_id="rc1", base_url=ding.base_url))
    await until(lambda: ding.texts() == ["echo:again"])
    await settled(rt)
    await channel.stop()


async def test_a_malformed_stream_message_is_acked_and_the_stream_lives_on(
    make_runtime, ding
) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    bad = ding.push({"msgId": "bad1", "conversationId": "cidU1", "text": "not an object"})
    await until(lambda: any(a["headers"]["messageId"] == bad for a in ding.acks))
    ding.push(fake.robot_message("still here", msg_id="ok1", base_url=ding.base_url))
    await until(lambda: ding.texts() == ["echo:still here"])
    await settled(rt)
    assert ding.connections == 1
    await channel.stop()


async def test_two_replicas_given_the_same_msg_id_answer_once(make_runtime, ding) -> None:
    # The gateway may redeliver to another connection; both replicas share Redis.
    a, chan_a, _ = await start_bot(make_runtime, ding)
    b, chan_b, _ = await start_bot(make_runtime, ding)
    await until(lambda: ding.open_sockets == 2)
    ding.push(fake.robot_message("一次", msg_id="dup1", base_url=ding.base_url))
    await until(lambda: len(ding.acks) >= 2 and len(ding.sent) >= 1)
    await settled(a)
    await settled(b)
    assert ding.texts() == ["echo:一次"]
    assert ding.token_fetches == 0  # the sessionWebhook needs no token
    await chan_a.stop()
    await chan_b.stop()


async def test_a_group_reply_on_the_webhook_mentions_the_asker(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.push(
        fake.robot_message(
            "在吗", msg_id="gm1", base_url=ding.base_url, conversation="cidG", group=True
        )
    )
    await until(lambda: len(ding.sent) == 1)
    await settled(rt)
    path, body = ding.sent[0]
    assert path == "/session/cidG" and body["text"]["content"] == "echo:在吗"
    assert body["at"] == {"atUserIds": ["staff1"]}
    await channel.stop()


async def test_the_text_parts_of_a_rich_text_are_read(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    parts = [
        {"text": "我的订单"},
        {"pictureDownloadCode": "pic-1", "downloadCode": "dl-1", "type": "picture"},
        {"text": "到哪了"},
    ]
    ding.push(fake.rich_text_message(parts, msg_id="rt1", base_url=ding.base_url))
    await until(lambda: len(ding.sent) == 1)
    await settled(rt)
    assert ding.texts() == ["echo:我的订单\n到哪了"]
    await channel.stop()


async def test_a_voice_message_uses_its_recognised_text(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.push(fake.audio_message("查一下物流", msg_id="au1", base_url=ding.base_url))
    await until(lambda: len(ding.sent) == 1)
    ding.push(fake.audio_message(None, msg_id="au2", base_url=ding.base_url))
    await until(lambda: len(ding.sent) == 2)
    await settled(rt)
    assert ding.texts() == ["echo:查一下物流", text("media_unsupported")]
    await channel.stop()


async def test_a_message_nobody_can_be_answered_on_is_acked_and_dropped(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    data = fake.robot_message("hi", msg_id="ns1", base_url=ding.base_url)
    for field in ("senderStaffId", "senderId", "sessionWebhook"):
        del data[field]
    frame = ding.push(data)
    await until(lambda: any(a["headers"]["messageId"] == frame for a in ding.acks))
    ding.push(fake.robot_message("next", msg_id="ns2", base_url=ding.base_url))
    await until(lambda: len(ding.sent) == 1)
    await settled(rt)
    assert ding.texts() == ["echo:next"]  # nothing went anywhere for the first
    await channel.stop()
