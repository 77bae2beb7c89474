"""The whole loop in headless Chromium: a web-chat customer, two agents on two replicas.

The customer asks for a person in the web chat on replica B; alice (replica A)
and bob (replica B) both press Claim at once; exactly one wins and both
screens agree; the winner's reply reaches the customer, and Resolve asks for a
rating. A ticket opened outside business hours carries a badge with the
opening time. Set AGENT_CONSOLE_SCREENSHOTS=<dir> to keep the screenshots (README).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.adapters.web.test_webchat import _serve
from tests.adapters.web.test_webchat_browser import CHROMIUM, FLAGS
from tests.agent_console.support import PASSWORD, add_agent, console_replica
from tests.escalation.support import closed_now
from tests.helpers import settled

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make install)"
)
WAIT = {"timeout": 30_000}  # a guard only: each step goes on as soon as its condition holds


async def _sign_in(browser: Any, port: int, name: str) -> Any:
    context = await browser.new_context(viewport={"width": 1200, "height": 720}, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"http://127.0.0.1:{port}/agent")  # redirected to the sign-in form
    await page.fill("#name", name)
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await page.wait_for_selector("#whoami >> text=" + name, **WAIT)
    return page


async def test_two_agents_race_to_claim_and_the_customer_gets_the_reply(
    servers, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    (rt_a, port_a), (rt_b, port_b) = servers
    await add_agent(rt_a, "bob")
    shots = Path(os.environ.get("AGENT_CONSOLE_SCREENSHOTS", tmp_path))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        alice = await _sign_in(browser, port_a, "alice")
        bob = await _sign_in(browser, port_b, "bob")
        customer = await browser.new_page(viewport={"width": 480, "height": 720})
        await customer.goto(f"http://127.0.0.1:{port_b}/")
        await customer.fill("#text", "转人工")
        await customer.press("#text", "Enter")

        for page in (alice, bob):  # the ticket appears live in both queues, and the title counts it
            await page.click("#list button", **WAIT)
            await page.wait_for_selector("#claim:not([hidden])", **WAIT)
        assert (await alice.title()).startswith("(1)")
        await asyncio.gather(
            *(p.evaluate("document.getElementById('claim').click()") for p in (alice, bob))
        )
        (ticket,) = await rt_a.route.handoff.tickets.all()
        await _until_claimed(rt_a, ticket.id)
        winner_name = (await rt_a.route.handoff.tickets.get(ticket.id)).agent_name
        winner, loser = (alice, bob) if winner_name == "alice" else (bob, alice)
        for page in (alice, bob):  # both screens agree on who has it
            await page.wait_for_selector(f"#meta >> text={winner_name} 处理中", **WAIT)
        await loser.wait_for_selector(f"#error >> text=已被 {winner_name} 认领", **WAIT)
        assert await loser.is_disabled("#reply")

        await winner.fill("#reply", "您好，我是人工客服，马上为您查询")
        await winner.press("#reply", "Enter")  # Enter sends
        await customer.wait_for_selector(".msg >> text=您好，我是人工客服，马上为您查询", **WAIT)
        await winner.fill("#note-text", "客户很着急")
        await winner.press("#note-text", "Enter")
        await loser.wait_for_selector(
            ".e.note >> text=客户很着急", **WAIT
        )  # live, on the other replica
        await customer.fill("#text", "好的谢谢")
        await customer.press("#text", "Enter")
        await winner.wait_for_selector(".e.customer >> text=好的谢谢", **WAIT)
        await winner.screenshot(path=str(shots / "agent-console.png"))
        # the hand-over history names its speakers in the page's language
        await winner.wait_for_selector(".e.history >> text=客户：转人工", **WAIT)
        assert await winner.locator(".e.history >> text=user:").count() == 0
        await winner.click("#lang")
        await winner.wait_for_selector(".e.history >> text=Customer: 转人工", **WAIT)
        await winner.click("#lang")

        await winner.click("#resolve")
        await customer.wait_for_selector(".msg >> text=请为本次人工服务打分", **WAIT)
        await customer.screenshot(path=str(shots / "agent-console-customer.png"))
        assert await customer.locator(".msg >> text=客户很着急").count() == 0
        await browser.close()
    await settled(rt_a, rt_b)


async def _until_claimed(rt: Any, ticket_id: str) -> None:
    from tests.helpers import until

    async def claimed() -> bool:
        return (await rt.route.handoff.tickets.get(ticket_id)).status == "claimed"

    await until(claimed)


async def test_a_ticket_opened_outside_business_hours_has_a_badge(
    make_runtime, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    hours, opens = closed_now()
    rt, _client = await console_replica(make_runtime, business_hours=hours)
    server, task, port = await _serve(rt)
    await add_agent(rt, "alice")
    shots = Path(os.environ.get("AGENT_CONSOLE_SCREENSHOTS", tmp_path))
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            alice = await _sign_in(browser, port, "alice")
            customer = await browser.new_page(viewport={"width": 480, "height": 720})
            await customer.goto(f"http://127.0.0.1:{port}/")
            await customer.fill("#text", "转人工")
            await customer.press("#text", "Enter")
            await customer.wait_for_selector(".msg >> text=非工作时间", **WAIT)

            badge = f"非工作时间 · {opens} 上班"
            await alice.wait_for_selector(f"#list .badge.hours >> text={badge}", **WAIT)
            await alice.click("#list button")
            await alice.wait_for_selector(f"#d-hours >> text={badge}", **WAIT)
            await alice.wait_for_selector(f".e.notice >> text={opens} 上班后处理", **WAIT)
            await alice.screenshot(path=str(shots / "agent-console-after-hours.png"))
            await alice.click("#lang")
            await alice.wait_for_selector(
                f"#d-hours >> text=outside business hours — opens {opens}", **WAIT
            )
            await alice.screenshot(path=str(shots / "agent-console-after-hours-en.png"))
            await browser.close()
    finally:
        server.should_exit = True
        await task
    await settled(rt)
