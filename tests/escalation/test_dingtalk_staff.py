"""A DingTalk customer asks for a human; agents work the ticket in a DingTalk group.

With the console as well, what console agents write is posted in the group too.

Real Stream frames from the fake DingTalk gateway, the fake robot APIs, real Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from adapters import dingtalk
from service.app import create_app
from service.escalation import build_handoff
from service.plugins import add_platform
from tests.adapters.dingtalk.support import start_connected
from tests.agent_console.support import add_agent, agent, post
from tests.escalation.support import Brain
from tests.fakes import dingtalk as fake
from tests.fakes.dingtalk import FakeDingTalk
from tests.helpers import settled
from tests.helpers import until as _until
from tests.platforms import dingtalk_settings

GROUP = "cidSTAFF"


@pytest.fixture
def ding() -> Iterator[FakeDingTalk]:
    server = FakeDingTalk().start()
    yield server
    server.stop()


async def _bot(
    make_runtime: Any, ding: FakeDingTalk, staff: str = f"dingtalk:{GROUP}"
) -> tuple[Any, Any]:
    rt = await make_runtime(escalation_channel=staff, business_hours="00:00-23:59:59")
    channel = add_platform(rt, dingtalk.PLATFORM, dingtalk_settings(ding.base_url))
    await start_connected(channel, rt, ding)  # the fake holds the socket, not only the bot
    rt.use(brain=Brain(), handoff=build_handoff(rt))
    return rt, channel


def _customer(ding: FakeDingTalk, text: str, msg_id: str) -> None:
    ding.push(fake.robot_message(text, msg_id=msg_id, base_url=ding.base_url))


def _agent(ding: FakeDingTalk, text: str, msg_id: str, staff: str, nick: str) -> None:
    data = fake.robot_message(
        text, msg_id=msg_id, base_url=ding.base_url, conversation=GROUP, group=True
    )
    data.update(senderStaffId=staff, senderNick=nick)
    ding.push(data)


def _text(body: dict[str, Any]) -> str:
    if "text" in body:
        return str(body["text"]["content"])
    if "actionCard" in body:
        return str(body["actionCard"]["text"])
    param = json.loads(body["msgParam"])
    return str(param.get("content") or param.get("text", ""))


def _group_texts(ding: FakeDingTalk) -> list[str]:
    return [_text(b) for _, b in list(ding.sent) if b.get("openConversationId") == GROUP]


def _customer_texts(ding: FakeDingTalk) -> list[str]:
    return [
        _text(b) for p, b in list(ding.sent) if "cidU1" in p or "staff1" in b.get("userIds", [])
    ]


async def test_dingtalk_customer_dingtalk_group_claim_relay_note_close(
    make_runtime: Any, ding: FakeDingTalk
) -> None:
    rt, channel = await _bot(make_runtime, ding)
    _customer(ding, "转人工", "c1")
    await _until(lambda: any("人工客服" in t for t in _customer_texts(ding)))
    await _until(lambda: any("New ticket" in t for t in _group_texts(ding)))
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    assert f"claim {ticket.id}" in next(t for t in _group_texts(ding) if "New ticket" in t)

    # two agents claim at once: one wins, the other is told who has it
    _agent(ding, f"claim {ticket.id}", "a1", "alice", "Alice")
    _agent(ding, f"claim {ticket.id}", "a2", "bob", "Bob")
    await _until(lambda: any("already claimed" in t for t in _group_texts(ding)))
    ticket = await rt.route.handoff.tickets.get(ticket.id)
    assert ticket.status == "claimed" and ticket.agent in ("alice", "bob")
    winner = ticket.agent
    await _until(lambda: any("已接入" in t for t in _customer_texts(ding)))

    # the reply command reaches the customer; notes never do
    _agent(ding, f"reply {ticket.id} 您好，我来查一下", "a3", winner, "W")
    await _until(lambda: "您好，我来查一下" in _customer_texts(ding))
    _agent(ding, f"reply {ticket.id} // 内部：已核实", "a4", winner, "W")
    _agent(ding, f"note {ticket.id} VIP 客户", "a5", winner, "W")

    # the customer answers: it appears in the group, the bot stays silent
    _customer(ding, "好的谢谢", "c2")
    await _until(lambda: any("好的谢谢" in t for t in _group_texts(ding)))
    assert not any(t.startswith("bot:") for t in _customer_texts(ding))

    # a redelivered command (same msgId) does nothing twice
    before = len(ding.sent)
    _agent(ding, f"reply {ticket.id} 您好，我来查一下", "a3", winner, "W")

    # close hands back to the bot: the customer is told, the bot answers the next message
    _agent(ding, f"close {ticket.id}", "a6", winner, "W")
    await _until(lambda: any("已结束" in t for t in _customer_texts(ding)))
    assert _customer_texts(ding).count("您好，我来查一下") == 1
    assert len(ding.sent) > before
    _customer(ding, "还有问题", "c3")
    await _until(lambda: "bot:还有问题" in _customer_texts(ding))
    closed = await rt.route.handoff.tickets.get(ticket.id)
    assert closed.status == "resolved"
    assert sum(e["event"] == "note" for e in closed.events) == 2
    assert not any("已核实" in t or "VIP" in t for t in _customer_texts(ding))
    await settled(rt)
    await channel.stop()


async def test_bad_commands_get_a_clear_answer(make_runtime: Any, ding: FakeDingTalk) -> None:
    rt, channel = await _bot(make_runtime, ding)
    _agent(ding, "claim T-NOPE", "b1", "alice", "Alice")
    await _until(lambda: any("No ticket T-NOPE" in t for t in _group_texts(ding)))
    _agent(ding, "hello", "b2", "alice", "Alice")
    await _until(lambda: any("Commands:" in t for t in _group_texts(ding)))
    _agent(ding, "reply T-NOPE hi", "b3", "alice", "Alice")
    await _until(lambda: sum("No ticket T-NOPE" in t for t in _group_texts(ding)) == 2)
    await settled(rt)
    await channel.stop()


async def test_console_replies_and_notes_show_in_the_group(
    make_runtime: Any, ding: FakeDingTalk
) -> None:
    rt, channel = await _bot(make_runtime, ding, staff=f"console,dingtalk:{GROUP}")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    await add_agent(rt, "alice")
    csrf = await agent(client, "alice")
    _customer(ding, "转人工", "d1")
    await _until(lambda: any("New ticket" in t for t in _group_texts(ding)))
    (ticket,) = await rt.route.handoff.tickets.all()
    path = f"/tickets/{ticket.id}"
    assert (await post(client, csrf, f"{path}/claim")).status_code == 200
    await post(client, csrf, f"{path}/reply", {"text": "您好，我来查一下"})
    await post(client, csrf, f"{path}/note", {"text": "VIP 客户"})
    await _until(lambda: "您好，我来查一下" in _customer_texts(ding))
    reply = f"[#{ticket.id}] alice (in the agent console) to the customer: 您好，我来查一下"
    note = f"[#{ticket.id}] Internal note by alice (in the agent console): VIP 客户"
    await _until(lambda: reply in _group_texts(ding) and note in _group_texts(ding))

    # a note typed in the group is in the group already: only the console is told
    _agent(ding, f"note {ticket.id} 已催仓库", "d2", "bob", "Bob")

    async def in_console() -> bool:
        thread = (await client.get(f"/agent/api{path}")).json()["thread"]
        return any(e["kind"] == "note" and e["text"] == "已催仓库" for e in thread)

    await _until(in_console)
    await settled(rt)
    assert not any("(in DingTalk)" in t for t in _group_texts(ding))
    assert _group_texts(ding).count(reply) == 1 and _group_texts(ding).count(note) == 1
    assert not any("VIP" in t or "已催仓库" in t for t in _customer_texts(ding))
    await channel.stop()
