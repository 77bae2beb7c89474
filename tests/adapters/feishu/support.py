"""The Feishu scenarios' bot: the real plug-in, pointed at the fake, behind the real app."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import SecretStr

from adapters import feishu
from adapters.feishu import FeishuSettings
from bot.turn import Turn
from service.app import create_app
from service.escalation import build_handoff
from service.plugins import add_platform
from tests.fakes import feishu as fake
from tests.fakes.feishu import FakeFeishu


def feishu_settings(base_url: str, **extra: Any) -> FeishuSettings:
    """The fake app's credentials, its verification token and its encrypt key."""
    values: dict[str, Any] = {
        "app_id": fake.APP_ID,
        "app_secret": SecretStr(fake.APP_SECRET),
        "verification_token": SecretStr(fake.VERIFICATION_TOKEN),
        "encrypt_key": SecretStr(fake.ENCRYPT_KEY),
        "api_base_url": base_url,
    }
    return FeishuSettings(**{**values, **extra})


class Echo:
    async def respond(self, turn: Turn) -> None:
        turn.say(f"echo:{turn.message.text}")


async def bot(
    make_runtime: Any,
    api: FakeFeishu,
    *,
    brain: Any = None,
    own: dict[str, Any] | None = None,
    **overrides: Any,
) -> tuple[Any, Any, httpx.AsyncClient]:
    """A started replica with the Feishu channel, and an HTTP client on its app."""
    rt = await make_runtime(**overrides)
    channel = add_platform(rt, feishu.PLATFORM, feishu_settings(api.base_url, **(own or {})))
    await channel.start()
    if overrides.get("escalation_channel"):
        rt.use(brain=brain or Echo(), handoff=build_handoff(rt))
    else:
        rt.use(brain=brain or Echo())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    return rt, channel, client


async def post(client: httpx.AsyncClient, payload: dict[str, Any]) -> httpx.Response:
    """An encrypted, signed event, as Feishu posts it."""
    body = fake.encrypted(payload)
    return await client.post("/webhooks/feishu", content=body, headers=fake.signed(body))
