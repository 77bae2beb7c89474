"""The web chat end to end in headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import os
import shutil

import pytest

from adapters import web
from bot.escalation.texts import CUSTOMER
from bot.models import Address, Button, Reply
from bot.turn import Turn
from service.plugins import add_platform
from tests.adapters.web.test_webchat import _serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make install)"
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class MenuBot:
    async def respond(self, turn: Turn) -> None:
        if turn.message.text == "menu":
            turn.say("choose one", buttons=(Button("查订单", "/order_status"),))
        else:
            turn.say(f"echo:{turn.message.payload or turn.message.text}")


async def test_chat_buttons_and_reload_in_chromium(make_runtime, tmp_path) -> None:
    from playwright.async_api import async_playwright

    rt = await make_runtime()
    channel = add_platform(rt, web.PLATFORM)
    await channel.start()
    rt.use(brain=MenuBot())
    server, task, port = await _serve(rt)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.fill("#text", "你好")
            await page.click("form button")
            await page.wait_for_selector(".msg.bot >> text=echo:你好", timeout=10_000)
            await page.fill("#text", "menu")
            await page.press("#text", "Enter")
            await page.click(".buttons button >> text=查订单", timeout=10_000)
            await page.wait_for_selector(".msg.bot >> text=echo:/order_status", timeout=10_000)
            cid = await page.evaluate("localStorage.getItem('csbot-cid')")
            await page.reload()
            await page.wait_for_selector(".msg.bot >> text=echo:你好", timeout=10_000)
            assert await page.evaluate("localStorage.getItem('csbot-cid')") == cid
            # An agent joins (delivered through the outbound, as the escalation desk does).
            joined = CUSTOMER["joined"]["zh-CN"].format(agent="小王")
            address = Address(platform="web", conversation_id=cid, user_id=cid, account="local")
            await rt.outbound.deliver(address, [Reply(text=joined)])
            await page.wait_for_selector(f".msg.notice >> text={joined}", timeout=10_000)
            await page.screenshot(
                path=str(os.environ.get("WEBCHAT_SCREENSHOT", tmp_path / "chat.png"))
            )
            await browser.close()
    finally:
        server.should_exit = True
        await task
