"""DingTalk replies: sessionWebhook, OpenAPI fallback with a shared token, retries, staff group."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters import dingtalk
from adapters.dingtalk.render import openapi_message, webhook_message
from bot.errors import DeliveryError
from bot.models import Button, Card, Reply
from service.plugins import add_platform
from tests.adapters.dingtalk.support import Echo, start_bot, start_connected, until
from tests.fakes import dingtalk as fake
from tests.helpers import settled
from tests.platforms import dingtalk_settings


async def test_platform_errors_are_retried(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.fail_next = [500, 429]
    ding.push(fake.robot_message("retry", msg_id="r1", base_url=ding.base_url))
    await until(lambda: ding.texts() == ["echo:retry"])
    await settled(rt)
    await channel.stop()


async def test_expired_webhook_in_a_1to1_chat_uses_batch_send_with_one_token(
    make_runtime, ding
) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    for i in range(2):
        ding.push(
            fake.robot_message(f"q{i}", msg_id=f"o{i}", base_url=ding.base_url, webhook_valid=False)
        )
        await until(lambda n=i: len(ding.sent) == n + 1)
    await settled(rt)
    assert [path for path, _ in ding.sent] == ["/v1.0/robot/oToMessages/batchSend"] * 2
    assert ding.sent[0][1]["userIds"] == ["staff1"] and ding.sent[0][1]["msgKey"] == "sampleText"
    assert ding.texts() == ["echo:q0", "echo:q1"]
    assert ding.token_fetches == 1
    assert await rt.redis.get(rt.keys.token("dingtalk", fake.CLIENT_ID))
    await channel.stop()


async def test_exhausted_retries_are_reported_not_lost(make_runtime, ding, caplog) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.fail_next = [503, 429, 500, 500]  # more failures than the retry policy's attempts
    ding.push(fake.robot_message("doomed", msg_id="x1", base_url=ding.base_url))
    await until(lambda: len(ding.received) >= 4)
    await settled(rt)
    assert ding.sent == []
    assert len([r for r in ding.received if r[0].startswith("/session/")]) == 4
    assert any(r.getMessage() == "reply not delivered" for r in caplog.records)
    with pytest.raises(DeliveryError) as err:
        ding.fail_next = [500] * 4
        await channel.outbound.send_to_users(["staff1"], Reply("x"))
    assert err.value.retryable and err.value.code == "500"
    await channel.stop()


async def test_staff_group_goes_to_the_staff_handler_not_the_pipeline(make_runtime, ding) -> None:
    rt = await make_runtime()
    channel = add_platform(rt, dingtalk.PLATFORM, dingtalk_settings(ding.base_url))
    channel.staff_group = "cidSTAFF"  # what the staff side (DingTalkStaff) sets
    rt.use(brain=Echo())
    seen: list[dict[str, Any]] = []

    async def staff(event: dict[str, Any]) -> None:
        seen.append(event)

    channel.staff_handler = staff
    await start_connected(channel, rt, ding)
    ding.push(
        fake.robot_message(
            "claim T-1", msg_id="st1", base_url=ding.base_url, conversation="cidSTAFF", group=True
        )
    )
    await until(lambda: len(seen) == 1)
    await settled(rt)
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


async def test_a_refused_session_webhook_falls_back_to_the_openapi(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.webhooks_expired = True  # valid by its timestamp, but DingTalk says it expired
    ding.push(fake.robot_message("late", msg_id="w1", base_url=ding.base_url))
    await until(lambda: len(ding.sent) == 1)
    await settled(rt)
    assert ding.sent[0][0] == "/v1.0/robot/oToMessages/batchSend"
    assert ding.texts() == ["echo:late"]
    assert [r[0] for r in ding.received if r[0].startswith("/session/")] == ["/session/cidU1"]
    await channel.stop()


async def test_a_failing_token_endpoint_is_retried_then_reported(make_runtime, ding) -> None:
    rt, channel, _ = await start_bot(make_runtime, ding)
    ding.fail_token_next = [503, 429]
    await channel.outbound.send_to_users(["u1"], Reply("hello"))
    assert ding.token_fetches == 1 and ding.texts() == ["hello"]
    await rt.redis.delete(rt.keys.token("dingtalk", fake.CLIENT_ID))
    ding.fail_token_next = [500] * 4
    with pytest.raises(DeliveryError) as err:
        await channel.outbound.send_group("cidG", Reply("again"))
    assert err.value.code == "500"
    assert ding.texts() == ["hello"]
    await channel.stop()
