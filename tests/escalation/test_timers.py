"""Ticket timers with a controllable clock: they fire once across replicas and survive a restart."""

from __future__ import annotations

import asyncio
import datetime as dt

from bot.escalation.timers import BusinessHours
from tests.escalation.support import closed_now
from tests.escalation.test_wechat_to_slack import (
    STAFF,
    _click,
    _replica,
    _slack,
    _until,
    _wechat,
)
from tests.helpers import settled


def _thread_texts(slack, thread: str) -> list[str]:
    return [
        a.get("text", "")
        for m, a in slack.calls
        if a.get("thread_ts") == thread and a.get("channel") == STAFF
    ]


async def test_unclaimed_timer_fires_once_and_survives_a_restart(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt_a, bot_a = await _replica(make_runtime, wechat, slack)
    rt_b, _ = await _replica(make_runtime, wechat, slack)
    await _wechat(bot_a, "转人工", "8001")
    ticket = (await rt_a.route.handoff.tickets.all("pending"))[0]
    opened = ticket.created_at

    # replica A "restarts" while the ticket is pending: its timers are still in Redis
    await rt_a.stop()
    rt_c, _ = await _replica(make_runtime, wechat, slack)
    later = opened + 5 * 60 + 1
    fired = await asyncio.gather(
        rt_b.route.handoff.timers.fire_due(later), rt_c.route.handoff.timers.fire_due(later)
    )
    assert sorted(fired) == [0, 1]  # exactly one replica took it
    assert sum("without an agent" in t for t in _thread_texts(slack, ticket.staff_thread)) == 1
    await _until(lambda: any("排队" in t for t in wechat.texts()))  # the customer is updated
    await settled(rt_b)
    await settled(rt_c)


async def test_agent_reminder_and_customer_idle_auto_resolve(make_runtime, fakes) -> None:
    wechat, slack = fakes
    rt, bot = await _replica(make_runtime, wechat, slack)
    await _wechat(bot, "转人工", "8101")
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    await _slack(bot, _click("claim_ticket", ticket.id, "UALICE"), form=True)
    await _until(lambda: any("已接入" in t for t in wechat.texts()))
    timers = rt.route.handoff.timers
    await timers.fire_due(ticket.created_at + 10 * 60 + 5)  # no agent reply for 10 min
    assert any("no reply for 10 min" in t for t in _thread_texts(slack, ticket.staff_thread))
    await timers.fire_due(ticket.created_at + 30 * 60 + 5)  # customer idle 30 min
    assert (await rt.route.handoff.tickets.get(ticket.id)).status == "resolved"
    ctx = await rt.contexts.load(ticket.conversation)
    assert ctx.mode == "bot"
    assert (
        await timers.fire_due(ticket.created_at + 48 * 3600) == 0
    )  # everything else was cancelled
    await settled(rt)


async def test_outside_business_hours_the_customer_is_told_and_so_are_agents(
    make_runtime, fakes
) -> None:
    wechat, slack = fakes
    hours, opens = closed_now()
    rt, bot = await _replica(make_runtime, wechat, slack, business_hours=hours)
    told = await _wechat(bot, "转人工", "8201")
    assert "非工作时间" in told
    ticket = (await rt.route.handoff.tickets.all("pending"))[0]
    said = _thread_texts(slack, ticket.staff_thread)
    assert said == [
        f"Opened outside business hours ({hours} Asia/Shanghai); agents are in from {opens}."
    ]
    await settled(rt)


def test_business_hours_next_opening() -> None:
    hours = BusinessHours("09:00-21:00", "Asia/Shanghai")
    zone = hours.zone
    evening = dt.datetime(2026, 11, 22, 22, 0, tzinfo=zone).timestamp()
    assert not hours.is_open(evening)
    assert dt.datetime.fromtimestamp(hours.next_open(evening), zone) == dt.datetime(
        2026, 11, 23, 9, 0, tzinfo=zone
    )
    assert hours.clock(hours.next_open(evening)) == "09:00"
    noon = dt.datetime(2026, 11, 22, 12, 0, tzinfo=zone).timestamp()
    assert hours.is_open(noon) and hours.next_open(noon) == noon
