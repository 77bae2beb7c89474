"""ESCALATION_CHANNEL: console by default, several channels at once, honest when there is none."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from bot.brain import NoHandoff
from bot.escalation import StaffTarget
from bot.escalation.handoff import EscalationHandoff
from bot.settings import Settings
from service.escalation import build_handoff, staff_targets
from tests.agent_console.support import add_agent, agent, console_replica, post, wechat_says
from tests.escalation.support import Brain
from tests.fakes import slack as fslack
from tests.fakes.slack import FakeSlack
from tests.helpers import RecordingChannel, message, settled, until


def test_staff_targets() -> None:
    assert staff_targets("console") == [StaffTarget("console")]
    assert staff_targets(" console , slack:C0123 ") == [
        StaffTarget("console"),
        StaffTarget("slack", "C0123"),
    ]
    assert staff_targets("dingtalk:cidX") == [StaffTarget("dingtalk", "cidX")]
    assert staff_targets("") == [] and staff_targets(None) == []
    for bad, why in [
        ("teams:C123", "unknown staff channel"),
        ("garbage", "unknown staff channel"),
        ("slack", "needs an id"),
        ("console:x", "takes no id"),
        ("slack:C1,slack:C2", "named twice"),
    ]:
        with pytest.raises(ValueError, match=why):
            staff_targets(bad)


def test_console_is_the_default(settings: Settings) -> None:
    assert staff_targets(settings.escalation_channel) == [StaffTarget("console")]


@pytest.mark.parametrize(
    ("setting", "logged"),
    [
        ("", "ESCALATION_CHANNEL is empty"),
        ("teams:C123", "is not usable: unknown staff channel"),
        ("slack:C0123", "no usable staff channel"),  # Slack is not enabled
    ],
)
async def test_without_a_usable_staff_channel_nobody_is_promised(
    make_runtime, caplog, setting: str, logged: str
) -> None:
    rt = await make_runtime(escalation_channel=setting)
    channel = RecordingChannel()
    rt.add_channels([channel])
    handoff = build_handoff(rt)
    assert isinstance(handoff, NoHandoff)
    rt.use(brain=Brain(), handoff=handoff)
    with caplog.at_level(logging.WARNING):
        await rt.pipeline.handle(message("转人工", mid="n1"), channel.outbound)
    (said,) = channel.outbound.texts()
    assert "无法为您转接" in said and "已为您转接" not in said and "马上" not in said
    assert any(logged in r.getMessage() for r in caplog.records)
    assert not any("no ESCALATION_CHANNEL is set" in r.getMessage() for r in caplog.records)
    assert (await rt.contexts.load("test:acct:u1")).mode == "bot"


async def test_a_contact_is_given_when_set(make_runtime) -> None:
    rt = await make_runtime(escalation_channel="", escalation_contact="400-123-4567")
    channel = RecordingChannel()
    rt.add_channels([channel])
    rt.use(brain=Brain(), handoff=build_handoff(rt))
    await rt.pipeline.handle(message("转人工", mid="n2"), channel.outbound)
    assert channel.outbound.texts()[-1] == "如需人工帮助，请联系：400-123-4567"


async def test_a_console_nobody_can_sign_in_to_promises_nobody(make_runtime, caplog) -> None:
    """No agent account: no ticket, the customer is told so; once one exists, tickets open."""
    rt, client = await console_replica(make_runtime, escalation_contact="400-123-4567")
    channel = RecordingChannel()
    rt.add_channels([channel])
    with caplog.at_level(logging.WARNING):
        await rt.pipeline.handle(message("转人工", mid="c1"), channel.outbound)
    said = channel.outbound.texts()
    assert said == [
        "抱歉，这里暂时无法为您转接人工客服，我会继续尽力为您解答。",
        "如需人工帮助，请联系：400-123-4567",
    ]
    assert any("bot agents add NAME" in r.getMessage() for r in caplog.records)
    assert await _tickets(rt) == [] and (await rt.contexts.load("test:acct:u1")).mode == "bot"
    await add_agent(rt, "alice")
    await rt.pipeline.handle(message("转人工", mid="c2"), channel.outbound)
    assert "已为您转接" in channel.outbound.texts()[-1] and len(await _tickets(rt)) == 1
    await client.aclose()
    await settled(rt)


async def _tickets(rt) -> list[object]:
    handoff = rt.route.handoff
    assert isinstance(handoff, EscalationHandoff)
    return list(await handoff.tickets.all())


async def test_a_claim_in_the_console_shows_in_slack_and_back(make_runtime, wechat) -> None:
    slack = await FakeSlack().start()
    try:
        rt, client = await console_replica(
            make_runtime, wechat, slack, escalation_channel="console,slack:CSTAFF"
        )
        handoff = rt.route.handoff
        assert isinstance(handoff, EscalationHandoff)
        await add_agent(rt, "alice")
        csrf = await agent(client, "alice")

        await wechat_says(client, "转人工", "8201")
        (ticket,) = await handoff.tickets.all()
        card = next(
            a for m, a in slack.calls if m == "chat.postMessage" and a["channel"] == "CSTAFF"
        )
        assert "claim_ticket" in json.dumps(card["blocks"], ensure_ascii=False)
        assert ticket.staff_thread  # the Slack thread, though the console came first

        assert (await post(client, csrf, f"/tickets/{ticket.id}/claim")).status_code == 200
        await until(
            lambda: any(
                m == "chat.update" and "claimed" in a.get("text", "") for m, a in slack.calls
            )
        )
        assert any("Claimed by alice" in a.get("text", "") for m, a in slack.calls)

        # a Slack agent resolves from the card: the console shows it
        click = {
            "type": "block_actions",
            "user": {"id": "UBOB", "name": "bob"},
            "team": {"id": fslack.TEAM},
            "channel": {"id": "CSTAFF"},
            "container": {},
            "trigger_id": "t-1",
            "api_app_id": "A1",
            "token": "x",
            "actions": [{"action_id": "resolve_ticket", "value": ticket.id, "type": "button"}],
        }
        body = f"payload={json.dumps(click)}".encode()
        headers = fslack.signed_headers(body, content_type="application/x-www-form-urlencoded")
        await client.post("/webhooks/slack/events", content=body, headers=headers)
        await until(lambda: _status(client, ticket.id, "resolved"))
        await settled(rt)
    finally:
        await slack.stop()


async def _status(client: httpx.AsyncClient, ticket_id: str, status: str) -> bool:
    shown = (await client.get(f"/agent/api/tickets/{ticket_id}")).json()
    return shown["status"] == status and any(e.get("key") == "resolved" for e in shown["thread"])
