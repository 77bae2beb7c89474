"""Slack scenarios against the fake Web API, through bolt's real signature checks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.slack import build_channel
from bot.app import create_app
from bot.models import Button
from bot.turn import Turn
from tests.fakes import slack as fake
from tests.fakes.slack import FakeSlack


class Echo:
    async def respond(self, turn: Turn) -> None:
        text = turn.message.payload or turn.message.text
        turn.say(
            f"echo:{text}", buttons=(Button("查订单", "/order_status"),) if text == "menu" else ()
        )


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack().start()
    yield server
    await server.stop()


async def _bot(make_runtime, api: FakeSlack, **extra: Any):
    rt = await make_runtime(
        slack_bot_token=SecretStr(fake.BOT_TOKEN),
        slack_signing_secret=SecretStr(fake.SIGNING_SECRET),
        slack_api_base_url=api.base_url,
        **extra,
    )
    channel = build_channel(rt.settings)
    rt.add_channels([channel])
    await channel.start(rt)
    rt.use(brain=Echo())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    return rt, channel, client


async def _settle(rt, api: FakeSlack, posts: int) -> None:
    """Bolt runs listeners in its own background tasks: wait for the fake to see the posts."""
    for _ in range(200):
        if len(api.posts()) >= posts:
            break
        await asyncio.sleep(0.02)
    await rt.drain(5)


async def _send(client: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    return await client.post(
        "/webhooks/slack/events", content=body, headers={**fake.signed_headers(body), **headers}
    )


async def test_url_verification(make_runtime, slack_api) -> None:
    _, _, client = await _bot(make_runtime, slack_api)
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}).encode()
    response = await _send(client, body)
    assert response.status_code == 200 and "c-123" in response.text


async def test_dm_gets_one_reply_and_retries_get_none(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    body = fake.event_body(fake.dm("你好"), event_id="Ev1")
    assert (await _send(client, body)).status_code == 200
    assert (
        await _send(client, body, **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    ).status_code == 200
    await _settle(rt, slack_api, 2)
    posts = slack_api.posts()
    assert [p["text"] for p in posts] == ["echo:你好"] and posts[0]["channel"] == "D123"


async def test_mention_is_answered_in_the_thread(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    await _send(client, fake.event_body(fake.mention("where is my order"), event_id="Ev2"))
    await _settle(rt, slack_api, 1)
    (post,) = slack_api.posts()
    assert post["text"] == "echo:where is my order" and post["thread_ts"] == "1700000002.000200"


async def test_bot_messages_edits_and_channel_chatter_are_ignored(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    events = [
        {**fake.dm("from a bot"), "bot_id": "B0001"},
        {**fake.dm("edited"), "subtype": "message_changed"},
        {**fake.dm("joined"), "subtype": "channel_join"},
        {**fake.dm("chatter"), "channel_type": "channel", "channel": "C1"},
    ]
    for i, event in enumerate(events):
        await _send(client, fake.event_body(event, event_id=f"Ev-ign-{i}"))
    await _settle(rt, slack_api, 1)  # nothing comes: waits out the full time
    assert slack_api.posts() == []


async def test_buttons_are_block_kit_and_a_click_is_an_action(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    await _send(client, fake.event_body(fake.dm("menu"), event_id="Ev3"))
    await _settle(rt, slack_api, 1)
    blocks = (
        json.loads(slack_api.posts()[0]["blocks"])
        if isinstance(slack_api.posts()[0]["blocks"], str)
        else slack_api.posts()[0]["blocks"]
    )
    button = blocks[-1]["elements"][0]
    assert blocks[-1]["type"] == "actions" and button["value"] == "/order_status"
    payload = {
        "type": "block_actions",
        "user": {"id": "U123"},
        "team": {"id": fake.TEAM},
        "channel": {"id": "D123"},
        "container": {},
        "trigger_id": "t1",
        "api_app_id": "A1",
        "token": "x",
        "actions": [{**button, "text": {"type": "plain_text", "text": "查订单"}}],
    }
    form = f"payload={json.dumps(payload)}".encode()
    response = await client.post(
        "/webhooks/slack/events",
        content=form,
        headers=fake.signed_headers(form, content_type="application/x-www-form-urlencoded"),
    )
    assert response.status_code == 200
    await _settle(rt, slack_api, 2)
    assert slack_api.posts()[-1]["text"] == "echo:/order_status"


async def test_forged_stale_malformed_and_oversized(make_runtime, slack_api) -> None:
    _, _, client = await _bot(make_runtime, slack_api)
    body = fake.event_body(fake.dm("hi"), event_id="Ev4")
    forged = await client.post(
        "/webhooks/slack/events", content=body, headers=fake.signed_headers(body, secret="wrong")
    )
    assert forged.status_code == 401
    stale = await client.post(
        "/webhooks/slack/events",
        content=body,
        headers=fake.signed_headers(body, timestamp=int(time.time()) - 600),
    )
    assert stale.status_code == 401
    garbage = b"{not json"
    assert (await _send(client, garbage)).status_code == 400
    big = b"x" * 2_000_000
    assert (await _send(client, big)).status_code == 413


async def test_rate_limited_and_server_errors_are_retried(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    slack_api.fail_next = [429, 500]
    await _send(client, fake.event_body(fake.dm("retry me"), event_id="Ev5"))
    await _settle(rt, slack_api, 1)
    assert [p["text"] for p in slack_api.posts()] == ["echo:retry me"]


async def test_socket_mode_envelopes_are_acked_and_answered_once(make_runtime, slack_api) -> None:
    rt, channel, _ = await _bot(make_runtime, slack_api, slack_app_token=SecretStr(fake.APP_TOKEN))
    for _ in range(250):
        if slack_api.sockets:
            break
        await asyncio.sleep(0.02)
    body = fake.event_body(fake.dm("socket hello"), event_id="EvS1")
    await slack_api.push_event(body, envelope_id="env-1")
    await slack_api.push_event(body, envelope_id="env-2", retry=1)  # a redelivery of the same event
    await _settle(rt, slack_api, 1)
    for _ in range(100):
        if len(slack_api.acks) >= 2:
            break
        await asyncio.sleep(0.02)
    assert {a["envelope_id"] for a in slack_api.acks} >= {"env-1", "env-2"}
    await asyncio.sleep(0.2)
    assert [p["text"] for p in slack_api.posts()] == ["echo:socket hello"]
    await channel.stop()
