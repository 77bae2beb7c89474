"""What the console's ticket view shows besides its own actions, and what Slack is shown.

Replies and notes typed in another staff channel (a Slack ticket thread), and
the console's own in that Slack thread; the hand-over history as roles the page
can label in its language, and a WeChat customer's remaining window and send
quota. Signed webhooks, fake platform APIs, real Redis.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from adapters.wechat.window import QUOTA
from tests.agent_console.support import add_agent, agent, console_replica, post, wechat_says
from tests.fakes import slack as fslack
from tests.fakes.slack import FakeSlack
from tests.helpers import RecordingChannel, message, settled, until

STAFF = "CSTAFF"


def _slack_body(payload: dict[str, Any], *, event: bool) -> tuple[bytes, dict[str, str]]:
    if event:
        body = fslack.event_body(payload, event_id=f"Ev-{payload['ts']}")
        return body, fslack.signed_headers(body, content_type="application/json")
    body = f"payload={json.dumps(payload)}".encode()
    return body, fslack.signed_headers(body, content_type="application/x-www-form-urlencoded")


async def _slack_claim(client: httpx.AsyncClient, ticket_id: str) -> None:
    click = {
        "type": "block_actions",
        "user": {"id": "UBOB", "name": "bob"},
        "team": {"id": fslack.TEAM},
        "channel": {"id": STAFF},
        "container": {},
        "trigger_id": "t-bob",
        "api_app_id": "A1",
        "token": "x",
        "actions": [{"action_id": "claim_ticket", "value": ticket_id, "type": "button"}],
    }
    body, headers = _slack_body(click, event=False)
    assert (await client.post("/webhooks/slack/events", content=body, headers=headers)).is_success


async def _slack_thread(
    client: httpx.AsyncClient, thread: str, text: str, ts: str, **extra: str
) -> None:
    """Bob types ``text`` in the ticket's Slack thread (``extra``: other event fields)."""
    message = {
        "type": "message",
        "channel": STAFF,
        "channel_type": "channel",
        "user": "UBOB",
        "text": text,
        "ts": ts,
        "thread_ts": thread,
        **extra,
    }
    body, headers = _slack_body(message, event=True)
    assert (await client.post("/webhooks/slack/events", content=body, headers=headers)).is_success


async def _thread(client: httpx.AsyncClient, ticket_id: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/agent/api/tickets/{ticket_id}")).json()["thread"])


async def test_slack_thread_replies_and_notes_show_in_the_console(make_runtime, wechat) -> None:
    slack = await FakeSlack().start()
    try:
        rt, client = await console_replica(
            make_runtime, wechat, slack, escalation_channel="console,slack:CSTAFF"
        )
        await add_agent(rt, "alice")
        await agent(client, "alice")  # watches the console
        await wechat_says(client, "转人工", "8301")
        (ticket,) = await rt.route.handoff.tickets.all()
        await _slack_claim(client, ticket.id)
        await until(lambda: any("已接入" in t for t in wechat.texts()))

        await _slack_thread(client, ticket.staff_thread, "您好，我是 bob，马上帮您查", "1.1")
        await _slack_thread(client, ticket.staff_thread, "note: 老客户，先查物流", "1.2")
        await until(lambda: "您好，我是 bob，马上帮您查" in wechat.texts())

        async def shown() -> bool:
            words = {(e["kind"], e.get("by"), e["text"]) for e in await _thread(client, ticket.id)}
            return {
                ("agent", "bob", "您好，我是 bob，马上帮您查"),
                ("note", "bob", "老客户，先查物流"),
            } <= words

        await until(shown)
        assert not any("老客户" in t for t in wechat.texts())  # the note stays internal
        await settled(rt)
    finally:
        await slack.stop()


async def test_console_replies_and_notes_show_in_the_slack_thread(make_runtime, wechat) -> None:
    slack = await FakeSlack().start()
    try:
        rt, client = await console_replica(
            make_runtime, wechat, slack, escalation_channel="console,slack:CSTAFF"
        )
        await add_agent(rt, "alice")
        csrf = await agent(client, "alice")
        await wechat_says(client, "转人工", "8351")
        (ticket,) = await rt.route.handoff.tickets.all()
        path = f"/tickets/{ticket.id}"
        await post(client, csrf, f"{path}/claim")
        assert (await post(client, csrf, f"{path}/reply", {"text": "在的，马上帮您查"})).is_success
        assert (await post(client, csrf, f"{path}/note", {"text": "老客户"})).is_success
        await until(lambda: "在的，马上帮您查" in wechat.texts())

        def in_thread() -> list[str]:
            return [
                a["text"]
                for m, a in slack.calls
                if m == "chat.postMessage" and a.get("thread_ts") == ticket.staff_thread
            ]

        reply = "alice (in the agent console) to the customer: 在的，马上帮您查"
        note = "Internal note by alice (in the agent console): 老客户"
        assert in_thread().count(reply) == 1 and in_thread().count(note) == 1

        # Slack sends the bot's own thread posts back as events: they are no agent's reply
        await _slack_thread(client, ticket.staff_thread, reply, "2.1", bot_id="B1", user="UBOT")
        # what bob types in the thread is in Slack already: only the console is told
        await _slack_thread(client, ticket.staff_thread, "note: 已催仓库", "2.2")

        async def bob_noted() -> bool:
            return any(e.get("text") == "已催仓库" for e in await _thread(client, ticket.id))

        await until(bob_noted)
        await settled(rt)
        assert not any("(in Slack)" in t or "nothing to do" in t for t in in_thread())
        assert not any(e.get("agent") == "UBOT" for e in await _thread(client, ticket.id))
        assert wechat.texts().count("在的，马上帮您查") == 1
        assert not any("老客户" in t or "已催仓库" in t for t in wechat.texts())

        # a customer cannot notify the whole staff channel through the relay
        await wechat_says(client, "<!channel> 人呢", "8352")
        await until(lambda: any("人呢" in t for t in in_thread()))
        assert not any("<!channel>" in t for t in in_thread())
        assert any("&lt;!channel> 人呢" in t for t in in_thread())
    finally:
        await slack.stop()


async def test_a_console_reply_is_shown_once_with_its_agent(make_runtime, wechat) -> None:
    rt, client = await console_replica(make_runtime, wechat)
    await add_agent(rt, "alice")
    csrf = await agent(client, "alice")
    await wechat_says(client, "转人工", "8311")
    (ticket,) = await rt.route.handoff.tickets.all()
    path = f"/tickets/{ticket.id}"
    await post(client, csrf, f"{path}/claim")
    assert (await post(client, csrf, f"{path}/reply", {"text": "在的"})).is_success
    assert (await post(client, csrf, f"{path}/note", {"text": "// 已核实"})).is_success

    words = [e for e in await _thread(client, ticket.id) if e["kind"] in ("agent", "note")]
    assert [(e["kind"], e["agent"], e["by"], e["text"]) for e in words] == [
        ("agent", "console:alice", "alice", "在的"),
        ("note", "console:alice", "alice", "已核实"),
    ]
    await settled(rt)


async def test_history_comes_as_roles_for_the_page_to_label(make_runtime, wechat) -> None:
    rt, client = await console_replica(make_runtime, wechat)
    await add_agent(rt, "alice")
    await agent(client, "alice")
    await wechat_says(client, "你好", "8321")
    await wechat_says(client, "转人工", "8322")
    (ticket,) = await rt.route.handoff.tickets.all()
    shown = (await client.get(f"/agent/api/tickets/{ticket.id}")).json()
    assert "transcript" not in shown  # "user: …" lines would put English into a Chinese page
    assert shown["history"][:3] == [
        {"role": "user", "text": "你好"},
        {"role": "bot", "text": "bot:你好"},
        {"role": "user", "text": "转人工"},
    ]
    await settled(rt)


async def test_wechat_window_and_quota_follow_sends_and_customer_messages(
    make_runtime, wechat
) -> None:
    rt, client = await console_replica(make_runtime, wechat)
    await add_agent(rt, "alice")
    csrf = await agent(client, "alice")
    await wechat_says(client, "转人工", "8331")
    (ticket,) = await rt.route.handoff.tickets.all()
    path = f"/tickets/{ticket.id}"
    await post(client, csrf, f"{path}/claim")
    await until(lambda: any("已接入" in t for t in wechat.texts()))
    await settled(rt)  # every send of the turns so far has been made

    async def view() -> dict[str, Any]:
        return dict((await client.get(f"/agent/api{path}")).json())

    # every customer-service send since the customer's last message counts
    first = await view()
    assert first["quota_left"] == QUOTA - len(wechat.sent)
    assert first["window_ends"] > ticket.created_at
    await post(client, csrf, f"{path}/reply", {"text": "正在查询"})
    await until(lambda: "正在查询" in wechat.texts())
    assert (await view())["quota_left"] == first["quota_left"] - 1

    # the customer writes: the window restarts with a fresh quota
    await wechat_says(client, "好的", "8332")
    again = await view()
    assert again["quota_left"] == QUOTA and again["window_ends"] > first["window_ends"]
    await settled(rt)


async def test_platforms_without_send_limits_show_neither(make_runtime) -> None:
    rt, client = await console_replica(make_runtime)
    channel = RecordingChannel()  # a platform that can always send (as web chat or Slack DMs)
    rt.add_channels([channel])
    await add_agent(rt, "alice")
    await agent(client, "alice")
    await rt.pipeline.handle(message("转人工", mid="8341"), channel.outbound)
    (ticket,) = await rt.route.handoff.tickets.all()
    shown = (await client.get(f"/agent/api/tickets/{ticket.id}")).json()
    assert shown["platform"] == "test"
    assert shown["window_ends"] is None and shown["quota_left"] is None
    await settled(rt)
