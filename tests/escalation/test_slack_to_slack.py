"""A Slack customer (DM) with a Slack staff channel; bad agent input gets a visible answer."""

from __future__ import annotations

from typing import Any

from tests.escalation.test_wechat_to_slack import (
    STAFF,
    _click,
    _replica,
    _slack,
    _thread_message,
    _until,
)
from tests.fakes import slack as fslack
from tests.helpers import settled


def _dm(text: str, ts: str) -> bytes:
    return fslack.event_body(
        fslack.dm(text, user="UCUST", channel="DCUST", ts=ts), event_id=f"Ev{ts}"
    )


def _to_customer(slack: Any) -> list[str]:
    return [p.get("text", "") for p in slack.posts() if p.get("channel") == "DCUST"]


def _in_staff(slack: Any) -> list[str]:
    return [p.get("text", "") for p in slack.posts() if p.get("channel") == STAFF]


async def test_slack_customer_with_slack_staff_channel(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt, bot = await _replica(make_runtime, wechat, slack)
    assert await _slack(bot, _dm("转人工", "1700000300.000001")) == 200
    await _until(lambda: any("人工客服" in t for t in _to_customer(slack)))
    await _until(lambda: any("New ticket" in t for t in _in_staff(slack)))
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    assert ticket.address["platform"] == "slack"

    await _slack(bot, _click("claim_ticket", ticket.id, "UAGENT"), form=True)
    await _until(lambda: any("已接入" in t for t in _to_customer(slack)))
    await _slack(bot, _thread_message("我来看看", "UAGENT", ticket.staff_thread, "1700000300.1"))
    await _until(lambda: "我来看看" in _to_customer(slack))
    await _slack(bot, _thread_message("// 内部备注", "UAGENT", ticket.staff_thread, "1700000300.2"))

    await _slack(bot, _dm("好的", "1700000300.000002"))
    await _until(
        lambda: any(
            "好的" in p.get("text", "") and p.get("thread_ts") == ticket.staff_thread
            for p in slack.posts()
        )
    )
    await _slack(bot, _thread_message("close", "UAGENT", ticket.staff_thread, "1700000300.3"))
    await _until(lambda: any("已结束" in t and "1-5" in t for t in _to_customer(slack)))
    # the answer to the satisfaction question is recorded on the ticket, not sent to the bot
    await _slack(bot, _dm("4", "1700000300.000004"))
    await _until(lambda: "感谢您的评价！" in _to_customer(slack))
    rated = await rt.route.handoff.tickets.get(ticket.id)
    assert rated.satisfaction == 4 and rated.events[-1]["event"] == "rated"
    await _slack(bot, _dm("谢谢", "1700000300.000003"))
    await _until(lambda: "bot:谢谢" in _to_customer(slack))
    assert not any("内部备注" in t for t in _to_customer(slack))
    assert not any(t.startswith("bot:") for t in _to_customer(slack)[:-1])
    # only the first message after a resolve can be a score: "3" now goes to the bot
    await _slack(bot, _dm("3", "1700000300.000005"))
    await _until(lambda: "bot:3" in _to_customer(slack))
    await settled(rt)


async def test_bad_clicks_are_answered_in_the_staff_channel(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt, bot = await _replica(make_runtime, wechat, slack)
    # a claim on an unknown ticket
    await _slack(bot, _click("claim_ticket", "NOPE1234", "UALICE"), form=True)
    await _until(lambda: any("No ticket NOPE1234" in t for t in _in_staff(slack)))
    # a click on a card outside the staff channel changes nothing and says so
    await _slack(bot, _dm("转人工", "1700000400.000001"))
    await _until(lambda: any("New ticket" in t for t in _in_staff(slack)))
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    elsewhere = _click("claim_ticket", ticket.id, "UEVE").replace(
        f'"channel": {{"id": "{STAFF}"}}'.encode(), b'"channel": {"id": "COTHER"}'
    )
    await _slack(bot, elsewhere, form=True)
    await _until(lambda: any("only count in the staff channel" in t for t in _in_staff(slack)))
    assert (await rt.route.handoff.tickets.get(ticket.id)).status == "pending"
    # a claim on a resolved ticket
    await _slack(bot, _click("resolve_ticket", ticket.id, "UALICE"), form=True)
    await _until(
        lambda: any(
            "Resolved by" in t
            for t in _in_staff(slack) + [p.get("text", "") for p in slack.posts()]
        )
    )
    await _slack(bot, _click("claim_ticket", ticket.id, "UBOB"), form=True)
    await _until(
        lambda: any(f"Ticket {ticket.id} is resolved" in p.get("text", "") for p in slack.posts())
    )
    await settled(rt)
