"""A WeChat customer asks for a person; two agents on two replicas work the ticket in /agent.

Signed WeChat webhooks, the fake WeChat API, real Redis shared by both replicas,
and the console's own HTTP API (what the page calls).
"""

from __future__ import annotations

import asyncio

from tests.agent_console.support import add_agent, agent, console_replica, post, wechat_says
from tests.fakes import wechat as fwechat
from tests.helpers import settled, until


async def test_claim_race_reply_note_resolve_and_rating(make_runtime, wechat) -> None:
    rt_a, alice = await console_replica(make_runtime, wechat)
    rt_b, bob = await console_replica(make_runtime, wechat)
    await add_agent(rt_a, "alice")
    await add_agent(rt_a, "bob")
    csrf_a, csrf_b = await agent(alice, "alice"), await agent(bob, "bob")

    # the customer asks for a person: the ticket is in both agents' unclaimed queue
    assert "人工客服" in await wechat_says(alice, "转人工", "8001")
    queue_b = (await bob.get("/agent/api/tickets", params={"view": "unclaimed"})).json()
    (row,) = queue_b["tickets"]
    assert row["platform"] == "wechat" and row["reason"] == "human_agent"
    ticket_id = row["id"]

    # both click Claim at once, each on their replica: exactly one wins, the other is told who
    a, b = await asyncio.gather(
        post(alice, csrf_a, f"/tickets/{ticket_id}/claim"),
        post(bob, csrf_b, f"/tickets/{ticket_id}/claim"),
    )
    assert sorted([a.status_code, b.status_code]) == [200, 409]
    winner, w_csrf, loser, l_csrf, name = (
        (alice, csrf_a, bob, csrf_b, "alice")
        if a.status_code == 200
        else (bob, csrf_b, alice, csrf_a, "bob")
    )
    lost = (b if a.status_code == 200 else a).json()
    assert lost["error"] == "claimed_by_other" and lost["holder"] == name
    for client in (alice, bob):  # both screens agree
        shown = (await client.get(f"/agent/api/tickets/{ticket_id}")).json()
        assert shown["status"] == "claimed" and shown["agent_name"] == name
    mine = (await winner.get("/agent/api/tickets", params={"view": "mine"})).json()["tickets"]
    assert [t["id"] for t in mine] == [ticket_id]
    assert (await loser.get("/agent/api/tickets", params={"view": "mine"})).json()["tickets"] == []
    await until(lambda: any("已接入" in t for t in wechat.texts()))

    # the loser cannot reply; the winner's reply reaches the customer on WeChat
    refused = await post(loser, l_csrf, f"/tickets/{ticket_id}/reply", {"text": "我来"})
    assert refused.status_code == 409 and refused.json()["error"] == "claimed_by_other"
    assert "我来" not in wechat.texts()
    ok = await post(winner, w_csrf, f"/tickets/{ticket_id}/reply", {"text": "您好，我来帮您查一下"})
    assert ok.status_code == 200
    await until(lambda: "您好，我来帮您查一下" in wechat.texts())

    # notes, from the box or with note:, stay internal
    await post(winner, w_csrf, f"/tickets/{ticket_id}/note", {"text": "VIP 客户"})
    await post(winner, w_csrf, f"/tickets/{ticket_id}/reply", {"text": "note: 已核实物流"})

    # the customer writes, on the other replica: it is in the thread, and the bot is silent
    assert await wechat_says(bob, "我的手机是13812345678", "8002") == "success"
    thread = (await alice.get(f"/agent/api/tickets/{ticket_id}")).json()["thread"]
    kinds = [(e["kind"], e["text"]) for e in thread]
    assert ("customer", "我的手机是138****5678") in kinds  # masked for agents
    assert ("note", "VIP 客户") in kinds and ("note", "已核实物流") in kinds
    assert ("agent", "您好，我来帮您查一下") in kinds
    preview = (await alice.get("/agent/api/tickets", params={"view": "all"})).json()["tickets"]
    assert preview[0]["preview"] == "我的手机是138****5678"

    # resolve: the customer is asked for a rating and the bot answers again
    assert (await post(winner, w_csrf, f"/tickets/{ticket_id}/resolve")).status_code == 200
    await until(lambda: any("1-5" in t for t in wechat.texts()))
    assert not any("VIP" in t or "已核实" in t for t in wechat.texts())
    ctx = await rt_a.contexts.load(f"wechat:{fwechat.ACCOUNT}:oCustomer")
    assert ctx.mode == "bot" and ctx.ticket_id is None
    assert "感谢您的评价" in await wechat_says(alice, "5", "8003")
    shown = (await bob.get(f"/agent/api/tickets/{ticket_id}")).json()
    assert shown["status"] == "resolved" and shown["satisfaction"] == 5
    assert shown["thread"][-1]["key"] == "rated"
    assert "bot:还有问题" in await wechat_says(alice, "还有问题", "8004")
    await settled(rt_a, rt_b)


async def test_bad_input_gets_a_clear_error_and_changes_nothing(make_runtime, wechat) -> None:
    rt, client = await console_replica(make_runtime, wechat)
    await add_agent(rt, "alice")
    csrf = await agent(client, "alice")
    await wechat_says(client, "转人工", "8101")
    (ticket,) = await rt.route.handoff.tickets.all()
    path = f"/tickets/{ticket.id}"

    early = await post(client, csrf, f"{path}/reply", {"text": "在吗"})
    assert early.status_code == 409 and early.json()["error"] == "not_claimed"
    await post(client, csrf, f"{path}/claim")
    sent = len(wechat.texts())
    empty = await post(client, csrf, f"{path}/reply", {"text": "   "})
    assert empty.status_code == 400 and empty.json()["error"] == "empty"
    huge = await post(
        client, csrf, f"{path}/reply", {"text": "长" * (rt.settings.max_text_chars + 1)}
    )
    assert huge.status_code == 413 and huge.json()["error"] == "too_long"
    unknown = await post(client, csrf, "/tickets/NOPE/reply", {"text": "hi"})
    assert unknown.status_code == 404
    assert (await post(client, csrf, f"{path}/resolve")).status_code == 200
    await until(lambda: any("已结束" in t for t in wechat.texts()))
    after = len(wechat.texts())
    late = await post(client, csrf, f"{path}/reply", {"text": "还有一件事"})
    assert late.status_code == 409 and late.json()["error"] == "not_open"
    again = await post(client, csrf, f"{path}/resolve")
    assert again.status_code == 409
    assert len(wechat.texts()) == after and after == sent + 1  # only the resolve's message
    thread = (await client.get(f"/agent/api{path}")).json()["thread"]
    assert not any(e["kind"] == "agent" for e in thread)
    await settled(rt)


async def test_queue_view_must_be_known(make_runtime) -> None:
    rt, client = await console_replica(make_runtime)
    await add_agent(rt, "alice")
    await agent(client, "alice")
    bad = await client.get("/agent/api/tickets", params={"view": "everything"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_view"
