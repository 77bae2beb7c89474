"""WeChat OA scenarios against the fake WeChat API, over the real webhook, with real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot import metrics
from bot.models import Button, Card
from bot.turn import Turn
from tests.adapters.wechat.support import Echo, bot, post
from tests.fakes import wechat as fake
from tests.helpers import settled, until


async def test_url_verification_echoes_and_forgeries_are_refused(make_runtime, wechat_api) -> None:
    _, _, client = await bot(make_runtime, wechat_api)
    query, _ = fake.plain_post("")
    ok = await client.get("/webhooks/wechat", params={**query, "echostr": "abc123"})
    assert ok.status_code == 200 and ok.text == "abc123"
    forged = await client.get(
        "/webhooks/wechat", params={**query, "signature": "0" * 40, "echostr": "x"}
    )
    assert forged.status_code == 403
    stale_query, _ = fake.plain_post("", timestamp=1_000_000_000)
    assert (await client.get("/webhooks/wechat", params=stale_query)).status_code == 403


async def test_text_gets_a_passive_reply_and_a_retry_gets_no_second(
    make_runtime, wechat_api
) -> None:
    _, _, client = await bot(make_runtime, wechat_api)
    xml = fake.text_xml("o1", "你好", msg_id="1001")
    sent_before = metrics.MESSAGES_OUT.labels("wechat")._value.get()
    first = await post(client, *fake.plain_post(xml))
    assert metrics.MESSAGES_OUT.labels("wechat")._value.get() == sent_before + 1  # counted once
    assert (
        first.status_code == 200
        and "echo:你好" in first.text
        and "<ToUserName><![CDATA[o1]]>" in first.text
    )
    retry = await post(client, *fake.plain_post(xml))  # WeChat's retry: same MsgId
    assert retry.text == "success"
    assert wechat_api.sent == []


async def test_safe_mode_round_trip(make_runtime, wechat_api) -> None:
    _, _, client = await bot(make_runtime, wechat_api, aes=True)
    query, body = fake.aes_post(fake.text_xml("o2", "hello", msg_id="2001"))
    response = await post(client, query, body)
    assert response.status_code == 200 and "<Encrypt>" in response.text
    assert "echo:hello" in fake.decrypt_reply(response.text, query)
    tampered = {**query, "msg_signature": "0" * 40}
    assert (await post(client, tampered, body)).status_code == 403


async def test_slow_turn_answers_success_then_sends_by_api(make_runtime, wechat_api) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(delay=0.5), reply_budget_s=0.1)
    response = await post(client, *fake.plain_post(fake.text_xml("o3", "慢一点", msg_id="3001")))
    assert response.text == "success"
    await settled(rt)
    assert wechat_api.texts() == ["echo:慢一点"]
    assert wechat_api.sent[0]["touser"] == "o3"


class FailsOnceLate:
    """Its first turn outlasts the reply budget, then fails; the next one answers."""

    def __init__(self) -> None:
        self.acked = asyncio.Event()  # set by the test once WeChat has had its "success"
        self.calls = 0

    async def respond(self, turn: Turn) -> None:
        self.calls += 1
        if self.calls == 1:
            await self.acked.wait()
            raise RuntimeError("backend went away")
        turn.say(f"echo:{turn.message.text}")


async def test_a_turn_failing_after_success_was_answered_is_run_again(
    make_runtime, wechat_api
) -> None:
    """WeChat will not retry a message answered "success": the replica runs it again."""
    brain = FailsOnceLate()
    rt, _, client = await bot(
        make_runtime, wechat_api, brain=brain, reply_budget_s=0.05, late_retry_s=0.01
    )
    xml = fake.text_xml("o3", "晚了也要回", msg_id="3101")
    assert (await post(client, *fake.plain_post(xml))).text == "success"
    brain.acked.set()
    await until(lambda: wechat_api.texts() == ["echo:晚了也要回"])
    await settled(rt)
    assert brain.calls == 2 and wechat_api.texts() == ["echo:晚了也要回"]


async def test_extra_replies_go_through_the_api(make_runtime, wechat_api) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(replies=2))
    response = await post(client, *fake.plain_post(fake.text_xml("o4", "x", msg_id="4001")))
    assert "echo:x" in response.text
    await settled(rt)
    assert wechat_api.texts() == ["echo1:x"]


async def test_token_refresh_and_platform_errors(make_runtime, wechat_api) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(delay=0.3), reply_budget_s=0.05)
    wechat_api.fail_next = [500, 429, "40001"]  # retried 5xx/429, then a token refresh
    await post(client, *fake.plain_post(fake.text_xml("o5", "a", msg_id="5001")))
    await settled(rt)
    assert wechat_api.texts() == ["echo:a"]
    assert wechat_api.token_fetches == 2


async def test_window_closed_is_reported_not_lost(make_runtime, wechat_api, caplog) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(delay=0.3), reply_budget_s=0.05)
    wechat_api.fail_next = ["45015"]
    await post(client, *fake.plain_post(fake.text_xml("o6", "late", msg_id="6001")))
    await settled(rt)
    assert wechat_api.sent == []
    failures = [r for r in caplog.records if r.getMessage() == "reply not delivered"]
    assert failures and failures[0].code == "45015" and failures[0].retryable is False


async def test_only_one_replica_fetches_the_token(make_runtime, wechat_api) -> None:
    _, a, _ = await bot(make_runtime, wechat_api)
    _, b, _ = await bot(make_runtime, wechat_api)
    assert a.outbound.api is not None and b.outbound.api is not None
    tokens = await asyncio.gather(
        *(ch.outbound.api.access_token() for ch in (a, b) for _ in range(5))
    )
    assert set(tokens) == {"TOKEN-1"} and wechat_api.token_fetches == 1


async def test_events_media_and_voice(make_runtime, wechat_api) -> None:
    rt, _, client = await bot(make_runtime, wechat_api)
    sub = fake.event_xml("o7", "subscribe", create_time=1700000000)
    assert "echo:subscribe" in (await post(client, *fake.plain_post(sub))).text
    assert (
        await post(client, *fake.plain_post(sub))
    ).text == "success"  # event retry: sender+CreateTime
    click = fake.event_xml("o7", "CLICK", key="/order_status")
    assert "echo:/order_status" in (await post(client, *fake.plain_post(click))).text
    image = await post(client, *fake.plain_post(fake.media_xml("o7", "image")))
    assert "文字" in image.text  # text-only notice
    voice = await post(
        client, *fake.plain_post(fake.media_xml("o7", "voice", recognition="查订单"))
    )
    assert "echo:查订单" in voice.text
    # The passive reply goes out before the turn saves the context: let the turns end
    await settled(rt)
    await post(client, *fake.plain_post(fake.event_xml("o7", "unsubscribe")))
    ctx = await rt.contexts.load(f"wechat:{fake.ACCOUNT}:o7")
    assert ctx.history == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<xml><broken", 400),
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
            b"<xml><FromUserName>&lol2;</FromUserName></xml>",
            400,
        ),
        (  # a DOCTYPE pushed past any fixed-size prefix by a long comment
            b'<?xml version="1.0"?><!--' + b"x" * 10_000 + b'--><!DOCTYPE x [<!ENTITY a "b">]>'
            b"<xml><FromUserName>&a;</FromUserName></xml>",
            400,
        ),
        (b"\xff\xfe\xfa not utf-8", 400),
        (b"<xml><MsgType>text</MsgType></xml>", 400),
        (b"x" * 2_000_000, 413),
    ],
)
async def test_bad_bodies_get_4xx_never_500(
    make_runtime, wechat_api, body: bytes, status: int
) -> None:
    _, _, client = await bot(make_runtime, wechat_api)
    query, _ = fake.plain_post("")
    assert (await post(client, query, body)).status_code == status


async def test_retry_while_the_first_is_in_flight_gets_success(make_runtime, wechat_api) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(delay=0.4), reply_budget_s=3.0)
    xml = fake.text_xml("o8", "在吗", msg_id="8001")
    first, retry = await asyncio.gather(
        post(client, *fake.plain_post(xml)), post(client, *fake.plain_post(xml))
    )
    answers = sorted([first.text, retry.text])
    assert answers[1] == "success" and "echo:在吗" in answers[0]  # exactly one passive reply
    await settled(rt)
    assert wechat_api.sent == []  # and nothing extra through the API


class Recorder(Echo):
    """An echo brain that remembers what reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    async def respond(self, turn: Turn) -> None:
        self.seen.append(turn.message)
        await super().respond(turn)


async def test_recorded_payloads(make_runtime, wechat_api) -> None:
    brain = Recorder()
    _, _, client = await bot(make_runtime, wechat_api, brain=brain)

    async def send(name: str) -> str:
        return (await post(client, *fake.plain_post(fake.fixture(name)))).text

    assert "echo:我的订单到哪了" in await send("text")
    assert "echo:查一下物流" in await send("voice")
    assert "文字" in await send("voice_unrecognised")  # no recognition: the text-only notice
    assert "文字" in await send("image")
    assert "echo:/order_status" in await send("event_click")
    assert await send("event_view") == "success"  # a menu link tap needs no answer
    kinds = [(m.kind.value, m.payload, m.event) for m in brain.seen]
    assert kinds == [
        ("text", None, None),
        ("text", None, None),
        ("action", "/order_status", "click"),
    ]
    text = brain.seen[0]
    assert text.message_id == "24312345678901234" and text.address.account == fake.ACCOUNT


class Menu:
    """A brain offering buttons, a card and quick replies, and echoing what comes back."""

    async def respond(self, turn: Turn) -> None:
        msg = turn.message
        if msg.text == "menu":
            card = Card(
                title="订单 A123",
                text="已发货",
                fields=(("快递", "顺丰"),),
                buttons=(Button("退货", "/return"),),
            )
            turn.say(
                "请选择",
                buttons=(Button("查订单", "/order_status"),),
                quick_replies=("人工客服",),
                card=card,
            )
        else:
            turn.say(f"got:{msg.kind.value}:{msg.payload}:{msg.text}")


async def test_numbered_menu_and_answers_by_number(make_runtime, wechat_api) -> None:
    _, _, client = await bot(make_runtime, wechat_api, brain=Menu())

    async def say(text: str, user: str = "o13") -> str:  # two users: stay under the burst limit
        body = fake.text_xml(user, text)
        return (await post(client, *fake.plain_post(body))).text

    shown = await say("menu")
    for line in (
        "请选择",
        "【订单 A123】已发货",
        "快递: 顺丰",
        "1. 查订单",
        "2. 退货",
        "3. 人工客服",
    ):
        assert line in shown
    assert "got:action:/return:退货" in await say("2")
    assert "got:text:None:2" in await say("2")  # that reply had no menu: "2" is just text now
    await say("menu")
    assert "got:text:None:人工客服" in await say(" 3 ")  # a quick reply comes back as its text
    await say("menu", "o14")
    assert "got:text:None:9" in await say("9", "o14")  # out of range: left as typed


async def test_a_replica_at_max_in_flight_sheds_with_503_then_takes_the_retry(
    make_runtime, wechat_api
) -> None:
    runtime, _, client = await bot(make_runtime, wechat_api, max_in_flight=1)
    busy = asyncio.Event()
    running = runtime.spawn(busy.wait(), name="a long turn")
    shed_before = metrics.SHED.labels("wechat")._value.get()
    xml = fake.text_xml("o-shed", "你好", msg_id="7001")
    refused = await post(client, *fake.plain_post(xml))
    assert refused.status_code == 503  # WeChat retries the same MsgId
    assert metrics.SHED.labels("wechat")._value.get() == shed_before + 1
    busy.set()
    await running
    retry = await post(client, *fake.plain_post(xml))
    assert retry.status_code == 200 and "echo:你好" in retry.text


@pytest.mark.parametrize("name", ["event_subscribe_scan", "event_subscribe_scan_product"])
async def test_subscribing_by_qr_code_or_product_scan_is_a_subscribe(
    make_runtime, wechat_api, name: str
) -> None:
    brain = Recorder()
    _, channel, client = await bot(make_runtime, wechat_api, brain=brain)
    xml = fake.fixture(name)
    answer = await post(client, *fake.plain_post(xml))
    assert "<![CDATA[echo:subscribe]]>" in answer.text  # the dialog welcomes a "subscribe"
    assert [(m.kind.value, m.event) for m in brain.seen] == [("event", "subscribe")]
    user = brain.seen[0].user_id
    assert (await channel.send_window(user, account=fake.ACCOUNT)).open  # following opens it
    assert (await post(client, *fake.plain_post(xml))).text == "success"  # WeChat's retry


@pytest.mark.parametrize(
    "name",
    [
        "event_subscribe_msg_popup",
        "event_subscribe_msg_sent",
        "event_masssendjobfinish",
        "event_kf_create_session",
        "event_kf_close_session",
        "event_kf_switch_session",
        "event_qualification_verify_success",
    ],
)
async def test_notifications_get_no_reply_and_open_no_window(
    make_runtime, wechat_api, name: str
) -> None:
    brain = Recorder()
    rt, channel, client = await bot(make_runtime, wechat_api, brain=brain)
    answer = await post(client, *fake.plain_post(fake.fixture(name)))
    assert answer.status_code == 200 and answer.text == "success"
    await settled(rt)
    assert brain.seen == [] and wechat_api.sent == []
    window = await channel.send_window("oFx1s5fixtureNoticeUser", account=fake.ACCOUNT)
    assert not window.open and window.remaining_quota == 5  # never written: no window
