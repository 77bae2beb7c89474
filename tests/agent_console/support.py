"""Replicas with the agent console, and an agent's browser-less session (real HTTP)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from adapters import slack as slack_plugin
from adapters import web
from adapters import wechat as wechat_plugin
from adapters.agent_console import agent_store
from bot.runtime import Runtime
from service.app import create_app
from service.escalation import build_handoff
from service.plugins import add_platform
from tests.escalation.support import Brain
from tests.fakes import wechat as fwechat
from tests.fakes.slack import FakeSlack
from tests.fakes.wechat import FakeWeChat
from tests.platforms import slack_settings, wechat_settings

PASSWORD = "correct horse battery"


async def console_replica(
    make_runtime: Any,
    wechat: FakeWeChat | None = None,
    slack: FakeSlack | None = None,
    **overrides: Any,
) -> tuple[Runtime, httpx.AsyncClient]:
    """A started replica whose staff channel is the console (plus web chat, and WeChat and
    Slack when their fakes are given)."""
    rt = await make_runtime(
        escalation_channel=overrides.pop("escalation_channel", "console"),
        # the scenario must not depend on the hour it runs at
        business_hours=overrides.pop("business_hours", "00:00-23:59:59"),
        **overrides,
    )
    channels = [add_platform(rt, web.PLATFORM)]
    if wechat is not None:
        channels.append(add_platform(rt, wechat_plugin.PLATFORM, wechat_settings(wechat.base_url)))
    if slack is not None:
        channels.append(add_platform(rt, slack_plugin.PLATFORM, slack_settings(slack.base_url)))
    for channel in channels:
        await channel.start()
    rt.use(brain=Brain(), handoff=build_handoff(rt))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    return rt, client


async def add_agent(rt: Runtime, name: str, password: str = PASSWORD) -> None:
    await agent_store(rt.host("console")).add(name, password)


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    """Fill in the sign-in form as a browser would (its token and cookie included)."""
    form = await client.get("/agent/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    return await client.post(
        "/agent/login", data={"name": name, "password": password, "csrf": token.group(1)}
    )


async def agent(client: httpx.AsyncClient, name: str) -> str:
    """Sign ``client`` in as ``name``; returns the CSRF token of the session."""
    response = await sign_in(client, name)
    assert response.status_code == 303 and response.headers["location"] == "/agent"
    return (await client.get("/agent/api/me")).json()["csrf"]


async def wechat_says(client: httpx.AsyncClient, text: str, msg_id: str) -> str:
    query, body = fwechat.plain_post(fwechat.text_xml("oCustomer", text, msg_id=msg_id))
    return (await client.post("/webhooks/wechat", params=query, content=body)).text


async def post(
    client: httpx.AsyncClient, csrf: str, path: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return await client.post(f"/agent/api{path}", json=body or {}, headers={"X-CSRF-Token": csrf})
