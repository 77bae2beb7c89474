"""Shared set-up of the WeCom tests: a brain, the fake kf API, a bot on it, a signed POST."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from adapters import wecom
from adapters.wecom.channel import WeComChannel
from bot.turn import Turn
from service.app import create_app
from service.plugins import add_platform
from tests.fakes import wecom as fake
from tests.fakes.wecom import FakeWeCom

HOOK = "/webhooks/wecom"


class Echo:
    """A brain standing in for the dialog; ``replies`` per message, each numbered."""

    def __init__(self, replies: int = 1) -> None:
        self.replies = replies
        self.seen: list[str] = []

    async def respond(self, turn: Turn) -> None:
        self.seen.append(turn.message.text or str(turn.message.event))
        for i in range(self.replies):
            turn.say(f"echo{i or ''}:{turn.message.text or turn.message.event}")


async def bot(
    make_runtime: Any,
    api: FakeWeCom,
    *,
    brain: Any = None,
    own: dict[str, Any] | None = None,
    **extra: Any,
) -> tuple[Any, WeComChannel, httpx.AsyncClient]:
    runtime = await make_runtime(**extra)
    # the drain is awaited within the callback, however loaded the machine
    settings = fake.settings(api.base_url, **{"reply_budget_s": 30.0, **(own or {})})
    channel = add_platform(runtime, wecom.PLATFORM, settings)
    assert isinstance(channel, WeComChannel)
    await channel.start()
    runtime.use(brain=brain or Echo())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(runtime)), base_url="http://bot"
    )
    return runtime, channel, client


async def post(client: httpx.AsyncClient, callback: tuple[dict[str, str], bytes]) -> httpx.Response:
    query, body = callback
    return await client.post(HOOK, params=query, content=body)


def failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage() == "reply not delivered"]
