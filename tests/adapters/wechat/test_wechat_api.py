"""WeChat's customer-service API: quota, errcodes, retries, tokens, safe-mode envelopes."""

from __future__ import annotations

import asyncio

from tests.adapters.wechat.support import Echo, bot, post
from tests.fakes import wechat as fake
from tests.helpers import settled


async def test_quota_is_tracked_and_reported(make_runtime, wechat_api, caplog) -> None:
    rt, channel, client = await bot(make_runtime, wechat_api, brain=Echo(replies=7))
    fresh = await channel.send_window("o9", account=fake.ACCOUNT)
    assert not fresh.open and fresh.remaining_quota == 5  # never wrote: no window yet
    response = await post(client, *fake.plain_post(fake.text_xml("o9", "q", msg_id="9001")))
    assert "echo:q" in response.text  # 1 passive reply, then 5 by API, the 7th refused
    await settled(rt)
    assert wechat_api.texts() == [f"echo{i}:q" for i in range(1, 6)]
    window = await channel.send_window("o9", account=fake.ACCOUNT)
    assert not window.open and window.remaining_quota == 0 and window.closes_at > 0
    failed = [r for r in caplog.records if "not delivered" in r.getMessage()]
    assert failed and failed[0].code == "45047"
    # the user writes again: the window reopens with a fresh quota
    await post(client, *fake.plain_post(fake.text_xml("o9", "again", msg_id="9002")))
    assert (await channel.send_window("o9", account=fake.ACCOUNT)).open


async def test_platform_quota_errcode_is_not_retried(make_runtime, wechat_api, caplog) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(delay=0.3), reply_budget_s=0.05)
    wechat_api.fail_next = ["45047"]  # a retry would succeed (and show in `sent`): none may come
    await post(client, *fake.plain_post(fake.text_xml("o10", "z", msg_id="10001")))
    await settled(rt)
    assert wechat_api.sent == []
    failures = [r for r in caplog.records if r.getMessage() == "reply not delivered"]
    assert failures and failures[0].code == "45047" and failures[0].retryable is False


async def test_persistent_5xx_is_retried_then_reported(make_runtime, wechat_api, caplog) -> None:
    rt, _, client = await bot(make_runtime, wechat_api, brain=Echo(delay=0.2), reply_budget_s=0.05)
    wechat_api.fail_next = [500] * 10
    await post(client, *fake.plain_post(fake.text_xml("o11", "down", msg_id="11001")))
    await settled(rt)
    assert wechat_api.sent == [] and len(wechat_api.fail_next) < 10 - 1  # several attempts
    failures = [r for r in caplog.records if r.getMessage() == "reply not delivered"]
    assert failures and failures[0].code == "500"


async def test_safe_mode_verification_and_bad_envelopes(make_runtime, wechat_api) -> None:
    _, _, client = await bot(make_runtime, wechat_api, aes=True)
    query, body = fake.aes_post(fake.text_xml("o12", "hi", msg_id="12001"))
    # URL verification stays plaintext in safe mode: echostr comes back as sent
    get = await client.get("/webhooks/wechat", params={**query, "echostr": "e1"})
    assert get.status_code == 200 and get.text == "e1"
    no_encrypt = b"<xml><ToUserName>gh</ToUserName></xml>"
    assert (await post(client, query, no_encrypt)).status_code == 400
    garbage = body.replace(b"<Encrypt><![CDATA[", b"<Encrypt><![CDATA[!!")
    assert (await post(client, query, garbage)).status_code in (400, 403)
    assert (await post(client, query, b"<xml><broken")).status_code == 400
    ok = await post(client, query, body)
    assert ok.status_code == 200 and "echo:hi" in fake.decrypt_reply(ok.text, query)


async def test_expired_token_is_refreshed_once_across_replicas(make_runtime, wechat_api) -> None:
    _, a, _ = await bot(make_runtime, wechat_api)
    _, b, _ = await bot(make_runtime, wechat_api)
    assert a.outbound.api is not None and b.outbound.api is not None
    await a.outbound.api.access_token()
    wechat_api.expire_token()  # both replicas now hold a dead token (errcode 42001)
    await asyncio.gather(
        *(ch.outbound.api.send_text(f"u{i}", "hi") for i, ch in enumerate((a, b, a, b)))
    )
    assert len(wechat_api.sent) == 4 and wechat_api.token_fetches == 2  # one refresh in all
