"""Shared set-up of the WeChat tests: a brain, a bot on the fake API, a webhook POST."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from adapters import wechat
from bot.turn import Turn
from service.app import create_app
from service.plugins import add_platform
from tests.fakes.wechat import FakeWeChat
from tests.platforms import wechat_settings


class Echo:
    """A brain standing in for the dialog (adapter tests are about the platform)."""

    def __init__(self, delay: float = 0.0, replies: int = 1) -> None:
        self.delay, self.replies = delay, replies

    async def respond(self, turn: Turn) -> None:
        await asyncio.sleep(self.delay)
        for i in range(self.replies):
            turn.say(f"echo{i or ''}:{turn.message.text or turn.message.event}")


async def bot(
    make_runtime,
    api: FakeWeChat,
    *,
    aes: bool = False,
    brain: Any = None,
    # A passive reply is expected whenever the turn ends, however loaded the machine;
    # the tests of the slow path set a short budget themselves.
    reply_budget_s: float = 30.0,
    **extra: Any,
):
    runtime = await make_runtime(**extra)
    own = wechat_settings(api.base_url, aes=aes, reply_budget_s=reply_budget_s)
    channel = add_platform(runtime, wechat.PLATFORM, own)
    await channel.start()
    runtime.use(brain=brain or Echo())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://bot"
    )
    return runtime, channel, client


async def post(client: httpx.AsyncClient, query: dict[str, str], body: bytes) -> httpx.Response:
    return await client.post("/webhooks/wechat", params=query, content=body)
