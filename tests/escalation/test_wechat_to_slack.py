"""A WeChat customer asks for a human; agents work the ticket in a Slack staff channel.

Real webhooks (signed WeChat XML, signed Slack events and button clicks),
fake platform APIs, real Redis, two replicas sharing it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from adapters import slack as slack_plugin
from adapters import wechat as wechat_plugin
from service.app import create_app
from service.escalation import build_handoff
from service.plugins import add_platform
from tests.escalation.support import Brain
from tests.fakes import slack as fslack
from tests.fakes import wechat as fwechat
from tests.fakes.slack import FakeSlack
from tests.fakes.wechat import FakeWeChat
from tests.helpers import settled
from tests.helpers import until as _until
from tests.platforms import slack_settings, wechat_settings

STAFF = "CSTAFF"


async def _replica(
    make_runtime, wechat: FakeWeChat, slack: FakeSlack, **overrides: Any
) -> tuple[Any, httpx.AsyncClient]:
    rt = await make_runtime(
        escalation_channel=f"slack:{STAFF}",
        # the scenario must not depend on the hour it runs at
        business_hours=overrides.pop("business_hours", "00:00-23:59:59"),
        **overrides,
    )
    channels = [
        add_platform(rt, wechat_plugin.PLATFORM, wechat_settings(wechat.base_url)),
        add_platform(rt, slack_plugin.PLATFORM, slack_settings(slack.base_url)),
    ]
    for channel in channels:
        await channel.start()
    rt.use(brain=Brain(), handoff=build_handoff(rt))
    return rt, httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )


async def _wechat(client: httpx.AsyncClient, text: str, msg_id: str) -> str:
    query, body = fwechat.plain_post(fwechat.text_xml("oCustomer", text, msg_id=msg_id))
    return (await client.post("/webhooks/wechat", params=query, content=body)).text


async def _slack(client: httpx.AsyncClient, body: bytes, form: bool = False) -> int:
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    response = await client.post(
        "/webhooks/slack/events",
        content=body,
        headers=fslack.signed_headers(body, content_type=ctype),
    )
    return response.status_code


def _click(action: str, ticket: str, user: str) -> bytes:
    payload = {
        "type": "block_actions",
        "user": {"id": user, "name": user},
        "team": {"id": fslack.TEAM},
        "channel": {"id": STAFF},
        "container": {},
        "trigger_id": f"t-{user}",
        "api_app_id": "A1",
        "token": "x",
        "actions": [{"action_id": action, "value": ticket, "type": "button"}],
    }
    return f"payload={json.dumps(payload)}".encode()


def _thread_message(text: str, user: str, thread: str, ts: str) -> bytes:
    event = {
        "type": "message",
        "channel": STAFF,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread,
    }
    return fslack.event_body(event, event_id=f"Ev-{ts}")


async def test_wechat_customer_slack_agents_claim_relay_note_resolve(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt_a, bot_a = await _replica(make_runtime, wechat, slack)
    rt_b, bot_b = await _replica(make_runtime, wechat, slack)

    # the customer asks for a human: told about the wait, a card appears in the staff channel
    told = await _wechat(bot_a, "转人工", "9001")
    assert "人工客服" in told and "分钟" in told
    card = next(
        args
        for method, args in slack.calls
        if method == "chat.postMessage" and args["channel"] == STAFF
    )
    blocks = json.loads(card["blocks"]) if isinstance(card["blocks"], str) else card["blocks"]
    claim_button = next(e for e in blocks[-1]["elements"] if e["action_id"] == "claim_ticket")
    ticket_id = claim_button["value"]
    handoff = rt_a.route.handoff
    ticket = await handoff.tickets.get(ticket_id)
    assert ticket.status == "pending" and ticket.address["platform"] == "wechat"
    thread = ticket.staff_thread

    # two agents click Claim at once, on two replicas: exactly one wins, the other is told
    await asyncio.gather(
        _slack(bot_a, _click("claim_ticket", ticket_id, "UALICE"), form=True),
        _slack(bot_b, _click("claim_ticket", ticket_id, "UBOB"), form=True),
    )
    await _until(lambda: any("already claimed" in a.get("text", "") for m, a in slack.calls))
    ticket = await handoff.tickets.get(ticket_id)
    assert ticket.status == "claimed" and ticket.agent in ("UALICE", "UBOB")
    winner = ticket.agent
    await _until(lambda: any("已接入" in t for t in wechat.texts()))

    # the agent replies in the thread: the customer gets a customer-service message
    await _slack(
        bot_b, _thread_message("您好，我来帮您查一下", winner, thread, "1700000100.000001")
    )
    await _until(lambda: "您好，我来帮您查一下" in wechat.texts())
    # an internal note never reaches the customer
    await _slack(
        bot_a, _thread_message("note: VIP 客户，注意语气", winner, thread, "1700000100.000002")
    )
    await _slack(bot_a, _thread_message("// 已核实物流", winner, thread, "1700000100.000003"))

    # the customer answers: it shows in the thread, and the bot says nothing
    assert await _wechat(bot_b, "订单20231122001还没到", "9002") == "success"
    await _until(
        lambda: any(
            "订单20231122001还没到" in a.get("text", "")
            for m, a in slack.calls
            if a.get("thread_ts") == thread
        )
    )
    ctx = await rt_a.contexts.load(f"wechat:{fwechat.ACCOUNT}:oCustomer")
    assert ctx.mode == "human" and ctx.ticket_id == ticket_id

    # the agent resolves: the customer is told, the bot answers the next message
    await _slack(bot_a, _click("resolve_ticket", ticket_id, winner), form=True)
    await _until(lambda: any("已结束" in t for t in wechat.texts()))
    assert "bot:还有别的问题" in await _wechat(bot_a, "还有别的问题", "9003")
    assert (await handoff.tickets.get(ticket_id)).status == "resolved"
    assert not any("VIP" in t or "已核实" in t for t in wechat.texts())
    await settled(rt_a)
    await settled(rt_b)


async def test_delivery_failure_is_reported_to_the_agent(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt, bot = await _replica(make_runtime, wechat, slack)
    await _wechat(bot, "转人工", "9101")
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    await _slack(bot, _click("claim_ticket", ticket.id, "UALICE"), form=True)
    await _until(lambda: any("已接入" in t for t in wechat.texts()))
    wechat.fail_next = ["45015"]  # the 48-hour window has closed
    await _slack(
        bot, _thread_message("还在吗？", "UALICE", ticket.staff_thread, "1700000200.000001")
    )
    await _until(
        lambda: any(
            "Not delivered" in a.get("text", "") and "45015" in a.get("text", "")
            for m, a in slack.calls
        )
    )
    await settled(rt)


async def test_claims_on_unknown_or_resolved_tickets_are_answered(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt, _ = await _replica(make_runtime, wechat, slack)
    from bot.escalation.desk import Desk

    desk = Desk(rt, rt.route.handoff)
    assert "No ticket" in await desk.claim("NOPE", agent="U1", agent_name="U1")
