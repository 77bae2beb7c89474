"""Ticket timers and business hours as console notices, each once although two replicas run them.

Two replicas share one real Redis; a WeChat customer (signed webhooks, the fake
WeChat API) asks for a person; both replicas fire the due timers with the
test's own clock, and the console shows each notice once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bot.runtime import Runtime
from tests.agent_console.support import add_agent, agent, console_replica, post, wechat_says
from tests.escalation.support import closed_now
from tests.helpers import settled

Replica = tuple[Runtime, httpx.AsyncClient]
MARGIN_S = 60  # past a timer's due time; the handler schedules with the real clock


async def _fire(replicas: list[Replica], at: float) -> int:
    """Both replicas take what is due at ``at`` at once; how many timers ran in all."""
    fired = await asyncio.gather(*(rt.route.handoff.timers.fire_due(at) for rt, _ in replicas))
    return sum(fired)


async def _thread(client: httpx.AsyncClient, ticket_id: str) -> list[dict[str, Any]]:
    return list((await client.get(f"/agent/api/tickets/{ticket_id}")).json()["thread"])


def _notices(thread: list[dict[str, Any]]) -> list[str]:
    return [e["key"] for e in thread if e["kind"] == "notice"]


async def test_each_ticket_timer_shows_once_in_the_console(make_runtime, wechat) -> None:
    # a customer-idle limit past the WeChat window, so the window warning comes first
    replicas = [
        await console_replica(make_runtime, wechat, escalation_customer_idle_min=3000)
        for _ in range(2)
    ]
    (rt_a, alice), (_, bot_b) = replicas
    s = rt_a.settings
    await add_agent(rt_a, "alice")
    csrf = await agent(alice, "alice")
    await wechat_says(bot_b, "转人工", "8401")
    (ticket,) = await rt_a.route.handoff.tickets.all()

    assert (
        await _fire(replicas, ticket.created_at + s.escalation_unclaimed_min * 60 + MARGIN_S) == 1
    )
    assert (await post(alice, csrf, f"/tickets/{ticket.id}/claim")).status_code == 200
    claimed = (await rt_a.route.handoff.tickets.get(ticket.id)).claimed_at
    assert await _fire(replicas, claimed + s.escalation_agent_idle_min * 60 + MARGIN_S) == 1
    window_warning = ticket.created_at + 48 * 3600 - s.escalation_window_warn_min * 60
    assert await _fire(replicas, window_warning + MARGIN_S) == 1
    assert await _fire(replicas, claimed + s.escalation_customer_idle_min * 60 + MARGIN_S) == 1

    thread = await _thread(alice, ticket.id)
    assert _notices(thread) == ["unclaimed", "agent_idle", "window", "auto_resolved"]
    assert (await alice.get(f"/agent/api/tickets/{ticket.id}")).json()["status"] == "resolved"
    await settled(*(rt for rt, _ in replicas))


async def test_a_ticket_opened_outside_business_hours_waits_with_a_badge(
    make_runtime, wechat
) -> None:
    hours, opens = closed_now()
    replicas = [await console_replica(make_runtime, wechat, business_hours=hours) for _ in range(2)]
    (rt_a, alice), (_, bot_b) = replicas
    await add_agent(rt_a, "alice")
    await agent(alice, "alice")
    assert "非工作时间" in await wechat_says(bot_b, "转人工", "8411")

    # the queue row carries the opening time the page shows as a badge
    (row,) = (await alice.get("/agent/api/tickets?view=unclaimed")).json()["tickets"]
    assert row["after_hours"]["opens"] == opens
    opens_at = row["after_hours"]["opens_at"]
    assert opens_at > time.time()
    thread = await _thread(alice, row["id"])
    (notice,) = [e for e in thread if e["kind"] == "notice"]
    assert notice["key"] == "after_hours"
    assert notice["values"] == {"hours": f"{hours} Asia/Shanghai", "opens": opens}

    # the ticket waits for the agents: nothing fires before opening time, not even
    # the customer-idle auto-resolve; the re-ping comes once agents are in
    assert await _fire(replicas, opens_at - MARGIN_S) == 0
    assert (await rt_a.route.handoff.tickets.get(row["id"])).status == "pending"
    unclaimed = opens_at + rt_a.settings.escalation_unclaimed_min * 60
    assert await _fire(replicas, unclaimed + MARGIN_S) == 1
    assert _notices(await _thread(alice, row["id"])) == ["after_hours", "unclaimed"]
    await settled(*(rt for rt, _ in replicas))


async def test_in_business_hours_there_is_no_badge(make_runtime, wechat) -> None:
    rt, client = await console_replica(make_runtime, wechat)
    await add_agent(rt, "alice")
    await agent(client, "alice")
    await wechat_says(client, "转人工", "8421")
    (row,) = (await client.get("/agent/api/tickets?view=unclaimed")).json()["tickets"]
    assert row["after_hours"] is None
    assert _notices(await _thread(client, row["id"])) == []
    await settled(rt)
