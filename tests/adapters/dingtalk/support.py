"""Shared by the DingTalk scenario tests: an echo brain, a started bot, and a wait."""

from __future__ import annotations

from typing import Any

import httpx

from adapters import dingtalk
from bot.models import Button
from bot.turn import Turn
from service.app import create_app
from service.plugins import add_platform
from tests.fakes.dingtalk import FakeDingTalk
from tests.helpers import until
from tests.platforms import dingtalk_settings


class Echo:
    """A brain that echoes, with a button when asked for a menu."""

    async def respond(self, turn: Turn) -> None:
        text = turn.message.text
        turn.say(
            f"echo:{text}", buttons=(Button("查订单", "/order_status"),) if text == "menu" else ()
        )


async def start_connected(channel: Any, rt: Any, ding: FakeDingTalk) -> None:
    """Start ``channel`` and wait until the fake gateway, not only the bot, holds its socket.

    The bot sees the websocket handshake before the fake's thread has registered the
    socket; a frame pushed in between would reach no one.
    """
    before = ding.connections
    await channel.start()
    if channel.stream is not None:
        await until(lambda: channel.stream.connected.is_set() and ding.connections > before)


async def start_bot(
    make_runtime, ding: FakeDingTalk, mode: str = "stream"
) -> tuple[Any, Any, httpx.AsyncClient]:
    """A started runtime with the DingTalk channel on the fake, and an ASGI client."""
    rt = await make_runtime()
    channel = add_platform(rt, dingtalk.PLATFORM, dingtalk_settings(ding.base_url, mode=mode))
    rt.use(brain=Echo())
    await start_connected(channel, rt, ding)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    return rt, channel, client
