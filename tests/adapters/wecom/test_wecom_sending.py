"""WeCom sending: window and quota, kf refusals, token refresh, the welcome, hand-over."""

from __future__ import annotations

import pytest

from bot.errors import DeliveryError
from bot.models import Address, Reply
from service.escalation import build_handoff
from tests.adapters.wecom.support import Echo, bot, failures, post
from tests.escalation.support import Brain
from tests.fakes import wecom as fake
from tests.helpers import settled


async def test_the_quota_is_five_per_customer_message(make_runtime, kf, caplog) -> None:
    rt, channel, client = await bot(make_runtime, kf, brain=Echo(replies=7))
    address = Address(platform="wecom", conversation_id="wm-q", user_id="wm-q", account=fake.KFID)
    fresh = await channel.outbound.allowance(address)
    assert fresh.remaining == 5 and fresh.closes_at == 0  # never wrote: no window
    kf.customer_says("wm-q", "q")
    await post(client, kf.callback())
    await settled(rt)
    assert kf.texts() == ["echo:q"] + [f"echo{i}:q" for i in range(1, 5)]
    (failed,) = failures(caplog)
    assert failed.code == "95001" and failed.retryable is False
    assert await channel.sync.cursor(fake.KFID) == "c1"  # a send that can never go out: move on
    assert (await channel.outbound.allowance(address)).remaining == 0
    kf.customer_says("wm-q", "again")  # the customer writes: a fresh quota
    await post(client, kf.callback())
    await settled(rt)
    assert len(kf.sent) == 10


async def test_no_send_outside_the_window(make_runtime, kf) -> None:
    _, channel, _ = await bot(make_runtime, kf)
    address = Address(platform="wecom", conversation_id="wm-w", user_id="wm-w", account=fake.KFID)
    with pytest.raises(DeliveryError) as refused:
        await channel.outbound.deliver(address, [Reply(text="hello?")])
    assert refused.value.code == "95002" and not refused.value.retryable and kf.sent == []


@pytest.mark.parametrize("code", ["95018", "95013", "95001"])
async def test_kf_refusals_are_logged_not_retried(make_runtime, kf, caplog, code: str) -> None:
    rt, channel, client = await bot(make_runtime, kf)
    kf.fail_next = [code]
    kf.customer_says("wm-e", "x")
    assert (await post(client, kf.callback())).status_code == 200
    await settled(rt)
    assert kf.sent == []
    (failed,) = failures(caplog)
    assert failed.code == code and failed.retryable is False
    assert await channel.sync.cursor(fake.KFID) == "c1"
    assert fake.SECRET not in caplog.text and (kf.current_token not in caplog.text)


async def test_an_invalid_token_is_refreshed_once_and_retried(make_runtime, kf) -> None:
    rt, _, client = await bot(make_runtime, kf)
    kf.customer_says("wm-r", "first")
    await post(client, kf.callback())
    await settled(rt)
    kf.expire_token()  # the cached token now gets 40014
    kf.customer_says("wm-r", "second")
    await post(client, kf.callback())
    await settled(rt)
    assert kf.texts() == ["echo:first", "echo:second"] and kf.token_fetches == 2


async def test_server_errors_are_retried(make_runtime, kf) -> None:
    rt, _, client = await bot(make_runtime, kf)
    kf.fail_next = [500, 429]
    kf.customer_says("wm-5", "x")
    await post(client, kf.callback())
    await settled(rt)
    assert kf.texts() == ["echo:x"]


# -- welcome and hand-over ----------------------------------------------------------------


async def test_entering_the_session_gets_the_welcome_once(make_runtime, kf) -> None:
    brain = Echo()
    rt, _, client = await bot(make_runtime, kf, brain=brain)
    code = kf.enters_session("wm-new")
    callback = kf.callback()
    await post(client, callback)
    await post(client, callback)  # WeCom's retry of the same callback
    await settled(rt)
    assert kf.welcomes == [{"code": code, "msgtype": "text", "text": {"content": "echo:subscribe"}}]
    assert brain.seen == ["subscribe"] and kf.sent == []


async def test_escalation_hands_the_session_over_to_wecom_agents(make_runtime, kf) -> None:
    rt, _, client = await bot(
        make_runtime, kf, brain=Brain(), escalation_channel="console,wecom:queue"
    )
    rt.use(handoff=build_handoff(rt))
    kf.customer_says("wm-h", "转人工")
    await post(client, kf.callback())
    await settled(rt)
    assert kf.transfers == [{"open_kfid": fake.KFID, "external_userid": "wm-h", "service_state": 2}]
    assert kf.texts()  # the customer was told, through the kf API, before the hand-over
