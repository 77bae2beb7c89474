"""A registry entry is all a platform needs: a platform defined here, served by the real app.

``pad`` is a tiny platform of this test: its own settings model (``PAD_`` in the
environment, ``pad_`` in ``bot.yml``), a signed webhook, a sender that keeps to
its declared pace, a reply window, and a staff side. It is registered the way a
new package is, by adding it to ``adapters.registry.PLATFORMS``; no core file
knows it, and nothing of the project is replaced.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters import registry
from bot.brain import EchoBrain
from bot.channels import Channel, Limits, Platform, StaffSide
from bot.escalation import timer_policy
from bot.escalation.staff import AgentWords, AttachableStaff, written_elsewhere
from bot.host import Host
from bot.models import Address, InboundMessage, Reply
from bot.outbound import Capabilities
from bot.settings import PlatformSettings, RateLimitRule, load_settings
from service.app import create_app
from service.cli.common import secret_values
from service.escalation import staff_targets
from service.plugins import (
    add_enabled_platforms,
    enabled_platforms,
    platform_names,
    staff_titles,
)


class PadSettings(PlatformSettings):
    model_config = SettingsConfigDict(env_prefix="PAD_", extra="ignore")

    secret: SecretStr | None = None
    greeting: str = "hi"


class PadOutbound:
    platform = "pad"
    capabilities = Capabilities()

    def __init__(self, host: Host) -> None:
        self.host = host
        self.sent: list[tuple[str, str]] = []

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        for reply in replies:
            await self.host.pace(address.conversation_id)
            self.sent.append((address.conversation_id, reply.text))


class PadChannel:
    name = "pad"
    limits = Limits(send_pace=RateLimitRule(per_minute=600, burst=10), reply_window_s=3600)

    def __init__(self, settings: PadSettings, host: Host) -> None:
        assert settings.secret is not None
        self.settings = settings
        self.host = host
        self.outbound = PadOutbound(host)

    def routes(self) -> list[BaseRoute]:
        return [Route("/webhooks/pad", self.handle, methods=["POST"])]

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def handle(self, request: Request) -> Response:
        if request.headers.get("x-pad-secret") != self.settings.secret.get_secret_value():
            return Response("forged", status_code=401)
        body = json.loads(await request.body())
        address = Address(platform="pad", conversation_id=body["user"], user_id=body["user"])
        message = InboundMessage(
            platform="pad", message_id=body["id"], address=address, text=body["text"]
        )
        if not self.host.admit():
            return Response("busy", status_code=503)
        task = self.host.submit(message, self.outbound)
        retry = await self.host.settle([task], budget_s=30)
        return JSONResponse({"greeting": self.settings.greeting, "retry": retry})


def _staff(target: str, host: Host, channel: Channel | None) -> AttachableStaff:
    raise AssertionError("not wired in this test")


PAD = Platform(
    name="pad",
    settings=PadSettings,
    enabled=lambda s: s.secret is not None,
    build=PadChannel,
    staff=StaffSide(build=_staff, id_hint="pad room", title="the pad room"),
)


@pytest.fixture
def pad_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one registry line a new platform adds."""
    monkeypatch.setattr(registry, "PLATFORMS", (*registry.PLATFORMS, PAD))


def test_settings_enable_it_and_every_list_names_it(
    pad_registered: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "bot.yml").write_text("pad_greeting: hello from yaml\n", encoding="utf-8")
    settings = load_settings(config_dir=config, data_dir=tmp_path / "data")
    assert "pad" not in enabled_platforms(settings)
    monkeypatch.setenv("PAD_SECRET", "s3cret-pad")
    assert "pad" in enabled_platforms(settings) and "pad" in platform_names()
    assert "s3cret-pad" in secret_values(settings)  # the log filter scrubs it too
    assert [str(t) for t in staff_targets("console,pad:room-1")] == ["console", "pad:room-1"]
    assert staff_titles()["pad"] == "the pad room"  # how staff texts name its staff side
    with pytest.raises(ValueError, match=r"pad:<pad room>"):
        staff_targets("nowhere:1")


def test_staff_texts_name_a_channel_by_its_plug_in_or_else_its_kind() -> None:
    titled = AgentWords("U1", "alice", "hi", note=False, via="pad", via_title="the pad room")
    assert written_elsewhere(titled) == "alice (in the pad room) to the customer: hi"
    untitled = AgentWords("U1", "alice", "hi", note=True, via="pad")
    assert written_elsewhere(untitled) == "Internal note by alice (in Pad): hi"


async def test_its_route_is_served_and_replies_go_through_the_pipeline(
    pad_registered: None, monkeypatch: pytest.MonkeyPatch, make_runtime: Any, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "bot.yml").write_text("pad_greeting: hello from yaml\n", encoding="utf-8")
    monkeypatch.setenv("PAD_SECRET", "s3cret-pad")
    rt = await make_runtime(config_dir=config)
    (channel,) = [c for c in add_enabled_platforms(rt) if c.name == "pad"]
    rt.use(brain=EchoBrain())
    assert timer_policy(rt).windows == {"pad": 3600}  # its window, read from its limits
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    async with client:
        body = json.dumps({"id": "m1", "user": "u1", "text": "你好"})
        forged = await client.post("/webhooks/pad", content=body, headers={"x-pad-secret": "no"})
        answer = await client.post(
            "/webhooks/pad", content=body, headers={"x-pad-secret": "s3cret-pad"}
        )
    assert forged.status_code == 401
    assert answer.json() == {"greeting": "hello from yaml", "retry": False}
    assert channel.outbound.sent == [("u1", "收到：你好")]  # type: ignore[attr-defined]
    # the send kept to the declared pace: its GCRA state is in Redis, under bot/keys.py
    assert await rt.redis.exists(rt.keys.rate("out:pad", "u1"))
