"""WeCom customer service (kf) against the fake kf API, over the real webhook, with real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.turn import Turn
from service.cli.common import secret_values
from service.escalation import staff_targets
from service.plugins import enabled_platforms
from tests.adapters.wecom.support import HOOK, Echo, bot, post
from tests.fakes import wecom as fake
from tests.helpers import settled, until


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
    _, _, client = await bot(make_runtime, kf)
    ok = await client.get(HOOK, params=fake.verification("echo-1234"))
    assert ok.status_code == 200 and ok.text == "echo-1234"
    forged = {**fake.verification("x"), "msg_signature": "0" * 40}
    assert (await client.get(HOOK, params=forged)).status_code == 403
    other_corp = fake.verification("x", corp_id="wwSOMEONEELSE")  # signed, not for us
    assert (await client.get(HOOK, params=other_corp)).status_code == 403
    stale = {**fake.verification("x"), "timestamp": "1000000000"}
    assert (await client.get(HOOK, params=stale)).status_code == 403


async def test_forged_and_stale_callbacks_are_refused(make_runtime, kf) -> None:
    _, _, client = await bot(make_runtime, kf)
    query, body = kf.callback()
    forged = {**query, "msg_signature": "f" * 40}
    assert (await client.post(HOOK, params=forged, content=body)).status_code == 403
    stale = kf.callback(timestamp=1_000_000_000)
    assert (await post(client, stale)).status_code == 403
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
    _, _, client = await bot(make_runtime, kf)
    query, _ = kf.callback()
    assert (await client.post(HOOK, params=query, content=body)).status_code == status


@pytest.mark.parametrize("plain", ["<xml><broken", "<xml><ToUserName>ww</ToUserName></xml>"])
async def test_signed_but_malformed_payloads_are_400(make_runtime, kf, plain: str) -> None:
    _, _, client = await bot(make_runtime, kf)
    assert (await post(client, fake.encrypted(plain))).status_code == 400


# -- the sync -----------------------------------------------------------------------------


async def test_a_customer_text_is_synced_and_answered(make_runtime, kf) -> None:
    brain = Echo()
    rt, channel, client = await bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-1", "你好")
    kf.customer_sends_image("wm-1")  # opens the window, but is no text for the bot
    kf.servicer_says("wm-1", "我是人工")  # a WeCom agent's own message: not for the bot
    response = await post(client, kf.callback())
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
    rt, _, client = await bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-sur", "a\ud800b")
    assert (await post(client, kf.callback())).status_code == 200
    await settled(rt)
    assert brain.seen == ["a\ufffdb"] and kf.texts() == ["echo:a\ufffdb"]
    assert len(kf.sync_calls) == 1


async def test_pages_are_followed_while_has_more(make_runtime, kf) -> None:
    brain = Echo()
    rt, channel, client = await bot(make_runtime, kf, brain=brain, own={"sync_page_size": 2})
    for i in range(5):
        kf.customer_says(f"wm-p{i}", f"m{i}")
    assert (await post(client, kf.callback())).status_code == 200
    await settled(rt)
    assert [c["cursor"] for c in kf.sync_calls] == ["", "c2", "c4"]
    assert sorted(kf.texts()) == [f"echo:m{i}" for i in range(5)]
    assert await channel.sync.cursor(fake.KFID) == "c5"
    # the next event starts after the cursor: nothing is read twice
    kf.customer_says("wm-p0", "again")
    await post(client, kf.callback())
    await settled(rt)
    assert kf.sync_calls[-1]["cursor"] == "c5" and kf.texts()[-1] == "echo:again"


async def test_the_same_event_on_two_replicas_gets_one_reply(make_runtime, kf) -> None:
    a, _, client_a = await bot(make_runtime, kf)
    b, _, client_b = await bot(make_runtime, kf)
    for i in range(3):
        kf.customer_says(f"wm-d{i}", f"d{i}")
    callback = kf.callback()
    answers = await asyncio.gather(
        post(client_a, callback), post(client_b, callback), post(client_a, kf.callback())
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
    a, channel, client_a = await bot(make_runtime, kf, brain=brain)
    b, _, client_b = await bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-c1", "one")
    kf.customer_says("wm-c2", "boom")
    callback = kf.callback()
    first = await post(client_a, callback)
    assert first.status_code == 503  # WeCom calls again
    assert await channel.sync.cursor(fake.KFID) == ""  # the page was not passed
    retry = await post(client_b, callback)  # WeCom's retry lands on the other replica
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
    a, channel, client_a = await bot(make_runtime, kf, brain=brain)
    b, _, client_b = await bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-g1", "hold")
    first = asyncio.create_task(post(client_a, kf.callback()))
    await until(brain.entered.is_set)
    kf.customer_says("wm-g2", "later")
    second = await post(client_b, kf.callback())  # A holds the lock: B leaves its token
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
    a, channel_a, client_a = await bot(make_runtime, kf, brain=brain)
    kf.customer_says("wm-s1", "hold")
    stalled = asyncio.create_task(post(client_a, kf.callback()))
    await until(brain.entered.is_set)
    keys = channel_a.sync.keys_of(fake.KFID)
    await a.redis.delete(keys.lock)  # as if A's lock had expired (a frozen process)
    b, channel_b, client_b = await bot(make_runtime, kf, brain=Echo())
    kf.customer_says("wm-s2", "fresh")
    taken = asyncio.create_task(post(client_b, kf.callback()))
    # B re-reads the page from the same cursor; "hold" is in flight on A, so B may not pass it
    brain.gate.set()
    assert (await stalled).status_code == 503  # its compare-and-set was refused
    assert (await taken).status_code in (200, 503)
    await post(client_b, kf.callback())  # WeCom's next event or retry
    await settled(a, b)
    assert sorted(kf.texts()) == ["echo:fresh", "echo:hold"]
    assert await channel_b.sync.cursor(fake.KFID) == "c2"


async def test_an_expired_event_token_syncs_without_it(make_runtime, kf) -> None:
    rt, _, client = await bot(make_runtime, kf)
    kf.customer_says("wm-t1", "hi")
    query, body = kf.callback()
    kf.event_tokens.clear()  # the token's 10 minutes are over
    assert (await client.post(HOOK, params=query, content=body)).status_code == 200
    await settled(rt)
    assert kf.texts() == ["echo:hi"] and "token" not in kf.sync_calls[-1]


# -- replies: window, quota, errors -------------------------------------------------------
