"""A Feishu customer asks for a human; agents work the ticket on a card in a Feishu group.

Signed, encrypted events and card callbacks; the fake open API; real Redis; two replicas.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.adapters.feishu.support import bot, post
from tests.escalation.support import Brain
from tests.fakes import feishu as fake
from tests.fakes.feishu import FakeFeishu
from tests.helpers import settled, until

STAFF = "oc_staff"


@pytest.fixture
async def feishu_api() -> AsyncIterator[FakeFeishu]:
    server = await FakeFeishu().start()
    yield server
    await server.stop()


async def _replica(make_runtime: Any, api: FakeFeishu) -> tuple[Any, Any]:
    rt, _, client = await bot(
        make_runtime,
        api,
        brain=Brain(),
        escalation_channel=f"feishu:{STAFF}",
        business_hours="00:00-23:59:59",  # the scenario must not depend on the hour
    )
    return rt, client


def _to_customer(api: FakeFeishu) -> list[str]:
    return [
        json.loads(a["content"])["text"]
        for a in api.sent("send")
        if a["receive_id"] == "oc_p2p_1" and a["msg_type"] == "text"
    ]


def _card(api: FakeFeishu) -> dict[str, Any]:
    return next(a for a in api.sent("send") if a["msg_type"] == "interactive")


def _buttons(card: dict[str, Any]) -> list[str]:
    actions = [e for e in card["elements"] if e["tag"] == "action"]
    return [b["text"]["content"] for a in actions for b in a["actions"]]


async def test_claim_thread_reply_and_resolve_from_the_card(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt_a, a = await _replica(make_runtime, feishu_api)
    rt_b, b = await _replica(make_runtime, feishu_api)
    await post(a, fake.message_event("转人工", event_id="ev-s1"))
    await until(
        lambda: any(m == "interactive" for m in (x.get("msg_type") for x in feishu_api.sent()))
    )
    sent_card = _card(feishu_api)
    assert sent_card["receive_id"] == STAFF
    card = json.loads(sent_card["content"])
    assert _buttons(card) == ["Claim", "Resolve"]
    ticket = (await rt_a.route.handoff.tickets.all("pending"))[0]
    assert ticket.address["platform"] == "feishu" and ticket.staff_thread.startswith("om_")

    # two agents press Claim at once, on two replicas: exactly one wins
    claims = [
        fake.card_action(
            "claim_ticket",
            ticket.id,
            event_id=f"ev-c-{who}",
            open_id=who,
            chat_id=STAFF,
            message_id=ticket.staff_thread,
        )
        for who in ("ou_alice", "ou_bob")
    ]
    answers = await asyncio.gather(post(a, claims[0]), post(b, claims[1]))
    assert [r.status_code for r in answers] == [200, 200]
    await until(lambda: any("已接入" in t for t in _to_customer(feishu_api)))
    claimed = await rt_a.route.handoff.tickets.get(ticket.id)
    assert claimed.status == "claimed" and claimed.agent in ("ou_alice", "ou_bob")
    assert claimed.agent_name == f"Agent {claimed.agent}"  # read from the contact API
    await until(lambda: any("already claimed" in t for t in feishu_api.texts()))
    patched = json.loads(feishu_api.sent("patch")[0]["content"])
    assert _buttons(patched) == ["Resolve"]  # the card was updated in place

    # the agent replies in the card's thread (with the bot @-mentioned): the customer gets it
    reply = fake.message_event(
        "您好，我来帮您查一下",
        event_id="ev-t1",
        chat_id=STAFF,
        chat_type="group",
        open_id=claimed.agent,
        root_id=ticket.staff_thread,
        thread_id="omt_x",
        mention_bot=True,
    )
    await post(b, reply)
    await post(a, reply)  # a redelivery to the other replica: not relayed twice
    await until(lambda: "您好，我来帮您查一下" in _to_customer(feishu_api))
    # the customer's answer shows in the ticket's thread
    await post(b, fake.message_event("好的", event_id="ev-s2"))
    await until(
        lambda: any(
            r.get("message_id") == ticket.staff_thread
            and "好的" in json.loads(r["content"])["text"]
            for r in feishu_api.sent("reply")
        )
    )
    resolve = fake.card_action(
        "resolve_ticket",
        ticket.id,
        event_id="ev-r1",
        open_id=claimed.agent,
        chat_id=STAFF,
        message_id=ticket.staff_thread,
    )
    await post(a, resolve)
    await until(lambda: any("已结束" in t for t in _to_customer(feishu_api)))
    assert (await rt_a.route.handoff.tickets.get(ticket.id)).status == "resolved"
    await settled(rt_a, rt_b)
    assert _to_customer(feishu_api).count("您好，我来帮您查一下") == 1


async def test_a_card_pressed_outside_the_staff_chat_changes_nothing(
    make_runtime: Any, feishu_api: FakeFeishu
) -> None:
    rt, client = await _replica(make_runtime, feishu_api)
    await post(client, fake.message_event("转人工", event_id="ev-o1"))
    await until(
        lambda: (
            bool(feishu_api.sent("send"))
            and any(a["msg_type"] == "interactive" for a in feishu_api.sent("send"))
        )
    )
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    elsewhere = fake.card_action(
        "claim_ticket",
        ticket.id,
        event_id="ev-o2",
        open_id="ou_eve",
        chat_id="oc_other",
        message_id=ticket.staff_thread,
    )
    await post(client, elsewhere)
    await until(lambda: any("only count in the staff channel" in t for t in feishu_api.texts()))
    notice = next(t for t in feishu_api.texts() if "only count" in t)
    assert notice.startswith('<at user_id="ou_eve"></at>')  # a Feishu mention, not Slack's
    assert (await rt.route.handoff.tickets.get(ticket.id)).status == "pending"
    await settled(rt)
