"""WeCom customer service (kf) against the fake kf API, over the real webhook, with real Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from adapters import wecom
from adapters.wecom.channel import WeComChannel
from bot.errors import DeliveryError
from bot.models import Address, Reply
from bot.turn import Turn
from service.app import create_app
from service.cli.common import secret_values
from service.escalation import build_handoff, staff_targets
from service.plugins import add_platform, enabled_platforms
from tests.escalation.support import Brain
from tests.fakes import wecom as fake
from tests.fakes.wecom import FakeWeCom
from tests.helpers import settled, until

HOOK = "/webhooks/wecom"


class Echo:
    """A brain standing in for the dialog; ``replies`` per message, each numbered."""

    def __init__(self, replies: int = 1) -> None:
        self.replies = replies
        self.seen: list[str] = []

    async def respond(self, turn: Turn) -> None:
        self.seen.append(turn.message.text or str(turn.message.event))
        for i in range(self.replies):
            turn.say(f"echo{i or ''}:{turn.message.text or turn.message.event}")


@pytest.fixture
async def kf() -> AsyncIterator[FakeWeCom]:
    server = await FakeWeCom().start()
    yield server
    await server.stop()


async def _bot(
    make_runtime: Any,
    api: FakeWeCom,
    *,
    brain: Any = None,
    own: dict[str, Any] | None = None,
    **extra: Any,
) -> tuple[Any, WeComChannel, httpx.AsyncClient]:
    runtime = await make_runtime(**extra)
    # the drain is awaited within the callback, however loaded the machine
    settings = fake.settings(api.base_url, **{"reply_budget_s": 30.0, **(own or {})})
    channel = add_platform(runtime, wecom.PLATFORM, settings)
    assert isinstance(channel, WeComChannel)
    await channel.start()
    runtime.use(brain=brain or Echo())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://bot"
    )
    return runtime, channel, client


async def _post(
    client: httpx.AsyncClient, callback: tuple[dict[str, str], bytes]
) -> httpx.Response:
    query, body = callback
    return await client.post(HOOK, params=query, content=body)


def _failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "reply not delivered"]


def test_the_four_settings_enable_it_and_its_secrets_are_scrubbed(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    assert "wecom" not in enabled_platforms(settings)
    for name, value in {
        "WECOM_CORP_ID": fake.CORP_ID,
        "WECOM_SECRET": fake.SECRET,
        "WECOM_TOKEN": fake.TOKEN,
        "WECOM_AES_KEY": fake.AES_KEY,
    }.items():
        monkeypatch.setenv(name, value)
    assert "wecom" in enabled_platforms(settings)
    assert {fake.SECRET, fake.TOKEN, fake.AES_KEY} <= set(secret_values(settings))
    assert [str(t) for t in staff_targets("console,wecom:queue")] == ["console", "wecom:queue"]


# -- the callback -------------------------------------------------------------------------


async def test_url_verification_decrypts_echostr_and_refuses_forgeries(make_runtime, kf) -> None:
    _, _, client = await _bot(make_runtime, kf)
    ok = await client.get(HOOK, params=fake.verification("echo-1234"))
    assert ok.status_code == 200 and ok.text == "echo-1234"
    forged = {**fake.verification("x"), "msg_signature": "0" * 40}
    assert (await client.get(HOOK, params=forged)).status_code == 403
    other_corp = fake.verification("x", corp_id="wwSOMEONEELSE")  # signed, not for us
    assert (await client.get(HOOK, params=other_corp)).status_code == 403
    stale = {**fake.verification("x"), "timestamp": "1000000000"}
    assert (await client.get(HOOK, params=stale)).status_code == 403


async def test_forged_and_stale_callbacks_are_refused(make_runtime, kf) -> None:
    _, _, client = await _bot(make_runtime, kf)
    query, body = kf.callback()
    forged = {**query, "msg_signature": "f" * 40}
    assert (await client.post(HOOK, params=forged, content=body)).status_code == 403
    stale = kf.callback(timestamp=1_000_000_000)
    assert (await _post(client, stale)).status_code == 403
    assert kf.sync_calls == []  # nothing refused reached the API


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<xml><broken", 400),
        (b"<xml><ToUserName>ww</ToUserName></xml>", 400),  # no <Encrypt>
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>',
            400,
        ),
        (b"\xff\xfe\xfa not utf-8", 400),
        (b"x" * 2_000_000, 413),
    ],
)
async def test_bad_bodies_get_4xx_never_500(make_runtime, kf, body: bytes, status: int) -> None:
    _, _, client = await _bot(make_runtime, kf)
    query, _ = kf.callback()
    assert (await client.post(HOOK, params=query, content=body)).status_code == status


@pytest.mark.parametrize("plain", ["<xml><broken", "<xml><ToUserName>ww</ToUserName></xml>"])
async def test_signed_but_malformed_payloads_are_400(make_runtime, kf, plain: str) -> None:
    _, _, client = await _bot(make_runtime, kf)
    assert (await _post(client, fake.encrypted(plain))).status_code == 400


# -- the sync -----------------------------------------------------------------------------


async def test_a_customer_text_is_synced_and_answered(make_runtime, kf) -> None:
    brain = Echo()
    rt, channel, client = await _bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-1", "你好")
    kf.customer_sends_image("wm-1")  # opens the window, but is no text for the bot
    kf.servicer_says("wm-1", "我是人工")  # a WeCom agent's own message: not for the bot
    response = await _post(client, kf.callback())
    assert response.status_code == 200 and response.text == "success"
    await settled(rt)
    assert brain.seen == ["你好"]
    assert kf.sent == [
        {
            "touser": "wm-1",
            "open_kfid": fake.KFID,
            "msgtype": "text",
            "text": {"content": "echo:你好"},
        }
    ]
    assert await channel.sync.cursor(fake.KFID) == "c3"
    assert kf.sync_calls[0]["token"] in kf.event_tokens and kf.sync_calls[0]["cursor"] == ""


async def test_a_lone_surrogate_in_a_synced_text_reads_as_a_replacement_mark(
    make_runtime, kf
) -> None:
    # valid JSON from sync_msg, but no text: the turn failed and the page was pulled 5 times
    brain = Echo()
    rt, _, client = await _bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-sur", "a\ud800b")
    assert (await _post(client, kf.callback())).status_code == 200
    await settled(rt)
    assert brain.seen == ["a\ufffdb"] and kf.texts() == ["echo:a\ufffdb"]
    assert len(kf.sync_calls) == 1


async def test_pages_are_followed_while_has_more(make_runtime, kf) -> None:
    brain = Echo()
    rt, channel, client = await _bot(make_runtime, kf, brain=brain, own={"sync_page_size": 2})
    for i in range(5):
        kf.customer_says(f"wm-p{i}", f"m{i}")
    assert (await _post(client, kf.callback())).status_code == 200
    await settled(rt)
    assert [c["cursor"] for c in kf.sync_calls] == ["", "c2", "c4"]
    assert sorted(kf.texts()) == [f"echo:m{i}" for i in range(5)]
    assert await channel.sync.cursor(fake.KFID) == "c5"
    # the next event starts after the cursor: nothing is read twice
    kf.customer_says("wm-p0", "again")
    await _post(client, kf.callback())
    await settled(rt)
    assert kf.sync_calls[-1]["cursor"] == "c5" and kf.texts()[-1] == "echo:again"


async def test_the_same_event_on_two_replicas_gets_one_reply(make_runtime, kf) -> None:
    a, _, client_a = await _bot(make_runtime, kf)
    b, _, client_b = await _bot(make_runtime, kf)
    for i in range(3):
        kf.customer_says(f"wm-d{i}", f"d{i}")
    callback = kf.callback()
    answers = await asyncio.gather(
        _post(client_a, callback), _post(client_b, callback), _post(client_a, kf.callback())
    )
    assert [r.status_code for r in answers] == [200, 200, 200]
    await settled(a, b)
    assert sorted(kf.texts()) == ["echo:d0", "echo:d1", "echo:d2"]  # once each


class Flaky(Echo):
    """Fails the first time it sees ``boom`` (a crash in the middle of a page)."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    async def respond(self, turn: Turn) -> None:
        if turn.message.text == "boom" and not self.failed:
            self.failed = True
            raise RuntimeError("the turn died")
        await super().respond(turn)


async def test_a_failed_page_keeps_the_cursor_and_the_retry_skips_nothing(make_runtime, kf) -> None:
    brain = Flaky()
    a, channel, client_a = await _bot(make_runtime, kf, brain=brain)
    b, _, client_b = await _bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-c1", "one")
    kf.customer_says("wm-c2", "boom")
    callback = kf.callback()
    first = await _post(client_a, callback)
    assert first.status_code == 503  # WeCom calls again
    assert await channel.sync.cursor(fake.KFID) == ""  # the page was not passed
    retry = await _post(client_b, callback)  # WeCom's retry lands on the other replica
    assert retry.status_code == 200
    await settled(a, b)
    assert sorted(kf.texts()) == ["echo:boom", "echo:one"]  # "one" was not answered twice
    assert await channel.sync.cursor(fake.KFID) == "c2"


class Gate(Echo):
    """Holds the turn of ``hold`` until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def respond(self, turn: Turn) -> None:
        if turn.message.text == "hold":
            self.entered.set()
            await self.gate.wait()
        await super().respond(turn)


async def test_an_event_during_a_drain_is_read_by_the_holder(make_runtime, kf) -> None:
    brain = Gate()
    a, channel, client_a = await _bot(make_runtime, kf, brain=brain)
    b, _, client_b = await _bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-g1", "hold")
    first = asyncio.create_task(_post(client_a, kf.callback()))
    await until(brain.entered.is_set)
    kf.customer_says("wm-g2", "later")
    second = await _post(client_b, kf.callback())  # A holds the lock: B leaves its token
    assert second.status_code == 200 and "later" not in brain.seen  # B handled nothing
    assert await channel.sync.cursor(fake.KFID) == ""  # the held page is not passed yet
    brain.gate.set()
    assert (await first).status_code == 200
    await settled(a, b)
    assert sorted(kf.texts()) == ["echo:hold", "echo:later"]
    assert await channel.sync.cursor(fake.KFID) == "c2"


async def test_a_holder_whose_lock_ran_out_cannot_move_the_cursor(make_runtime, kf) -> None:
    """Replica A stalls past its lock; B takes over; A's late compare-and-set is refused."""
    brain = Gate()
    a, channel_a, client_a = await _bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-s1", "hold")
    stalled = asyncio.create_task(_post(client_a, kf.callback()))
    await until(brain.entered.is_set)
    keys = channel_a.sync.keys_of(fake.KFID)
    await a.redis.delete(keys.lock)  # as if A's lock had expired (a frozen process)
    b, channel_b, client_b = await _bot(make_runtime, kf, brain=Echo())
    kf.customer_says("wm-s2", "fresh")
    taken = asyncio.create_task(_post(client_b, kf.callback()))
    # B re-reads the page from the same cursor; "hold" is in flight on A, so B may not pass it
    brain.gate.set()
    assert (await stalled).status_code == 503  # its compare-and-set was refused
    assert (await taken).status_code in (200, 503)
    await _post(client_b, kf.callback())  # WeCom's next event or retry
    await settled(a, b)
    assert sorted(kf.texts()) == ["echo:fresh", "echo:hold"]
    assert await channel_b.sync.cursor(fake.KFID) == "c2"


async def test_an_expired_event_token_syncs_without_it(make_runtime, kf) -> None:
    rt, _, client = await _bot(make_runtime, kf)
    kf.customer_says("wm-t1", "hi")
    query, body = kf.callback()
    kf.event_tokens.clear()  # the token's 10 minutes are over
    assert (await client.post(HOOK, params=query, content=body)).status_code == 200
    await settled(rt)
    assert kf.texts() == ["echo:hi"] and "token" not in kf.sync_calls[-1]


# -- replies: window, quota, errors -------------------------------------------------------


async def test_the_quota_is_five_per_customer_message(make_runtime, kf, caplog) -> None:
    rt, channel, client = await _bot(make_runtime, kf, brain=Echo(replies=7))
    address = Address(platform="wecom", conversation_id="wm-q", user_id="wm-q", account=fake.KFID)
    fresh = await channel.outbound.allowance(address)
    assert fresh.remaining == 5 and fresh.closes_at == 0  # never wrote: no window
    kf.customer_says("wm-q", "q")
    await _post(client, kf.callback())
    await settled(rt)
    assert kf.texts() == ["echo:q"] + [f"echo{i}:q" for i in range(1, 5)]
    (failed,) = _failures(caplog)
    assert failed.code == "95001" and failed.retryable is False
    assert await channel.sync.cursor(fake.KFID) == "c1"  # a send that can never go out: move on
    assert (await channel.outbound.allowance(address)).remaining == 0
    kf.customer_says("wm-q", "again")  # the customer writes: a fresh quota
    await _post(client, kf.callback())
    await settled(rt)
    assert len(kf.sent) == 10


async def test_no_send_outside_the_window(make_runtime, kf) -> None:
    _, channel, _ = await _bot(make_runtime, kf)
    address = Address(platform="wecom", conversation_id="wm-w", user_id="wm-w", account=fake.KFID)
    with pytest.raises(DeliveryError) as refused:
        await channel.outbound.deliver(address, [Reply(text="hello?")])
    assert refused.value.code == "95002" and not refused.value.retryable and kf.sent == []


@pytest.mark.parametrize("code", ["95018", "95013", "95001"])
async def test_kf_refusals_are_logged_not_retried(make_runtime, kf, caplog, code: str) -> None:
    rt, channel, client = await _bot(make_runtime, kf)
    kf.fail_next = [code]
    kf.customer_says("wm-e", "x")
    assert (await _post(client, kf.callback())).status_code == 200
    await settled(rt)
    assert kf.sent == []
    (failed,) = _failures(caplog)
    assert failed.code == code and failed.retryable is False
    assert await channel.sync.cursor(fake.KFID) == "c1"
    assert fake.SECRET not in caplog.text and (kf.current_token not in caplog.text)


async def test_an_invalid_token_is_refreshed_once_and_retried(make_runtime, kf) -> None:
    rt, _, client = await _bot(make_runtime, kf)
    kf.customer_says("wm-r", "first")
    await _post(client, kf.callback())
    await settled(rt)
    kf.expire_token()  # the cached token now gets 40014
    kf.customer_says("wm-r", "second")
    await _post(client, kf.callback())
    await settled(rt)
    assert kf.texts() == ["echo:first", "echo:second"] and kf.token_fetches == 2


async def test_server_errors_are_retried(make_runtime, kf) -> None:
    rt, _, client = await _bot(make_runtime, kf)
    kf.fail_next = [500, 429]
    kf.customer_says("wm-5", "x")
    await _post(client, kf.callback())
    await settled(rt)
    assert kf.texts() == ["echo:x"]


# -- welcome and hand-over ----------------------------------------------------------------


async def test_entering_the_session_gets_the_welcome_once(make_runtime, kf) -> None:
    brain = Echo()
    rt, _, client = await _bot(make_runtime, kf, brain=brain)
    code = kf.enters_session("wm-new")
    callback = kf.callback()
    await _post(client, callback)
    await _post(client, callback)  # WeCom's retry of the same callback
    await settled(rt)
    assert kf.welcomes == [{"code": code, "msgtype": "text", "text": {"content": "echo:subscribe"}}]
    assert brain.seen == ["subscribe"] and kf.sent == []


async def test_escalation_hands_the_session_over_to_wecom_agents(make_runtime, kf) -> None:
    rt, _, client = await _bot(
        make_runtime, kf, brain=Brain(), escalation_channel="console,wecom:queue"
    )
    rt.use(handoff=build_handoff(rt))
    kf.customer_says("wm-h", "转人工")
    await _post(client, kf.callback())
    await settled(rt)
    assert kf.transfers == [{"open_kfid": fake.KFID, "external_userid": "wm-h", "service_state": 2}]
    assert kf.texts()  # the customer was told, through the kf API, before the hand-over
