"""Slack scenarios against the fake Web API, through bolt's real signature checks."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters import slack
from bot.models import Button
from bot.texts import text
from bot.turn import Turn
from service.app import create_app
from service.plugins import add_platform
from tests.fakes import slack as fake
from tests.fakes.slack import FakeSlack
from tests.helpers import settled, until
from tests.platforms import slack_settings


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


async def _bot(make_runtime, api: FakeSlack, **own: Any):
    rt = await make_runtime()
    channel = add_platform(rt, slack.PLATFORM, slack_settings(api.base_url, **own))
    await channel.start()
    rt.use(brain=Echo())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(rt)), base_url="http://bot"
    )
    return rt, channel, client


async def _settle(rt, api: FakeSlack, posts: int) -> None:
    """Wait for the fake to see ``posts`` posts, then for every turn to end (no late ones)."""
    await until(lambda: len(api.posts()) >= posts)
    await settled(rt)


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
    await _settle(rt, slack_api, 1)
    posts = slack_api.posts()
    assert [p["text"] for p in posts] == ["echo:你好"] and posts[0]["channel"] == "D123"


async def test_replies_reuse_one_connection(make_runtime, slack_api) -> None:
    # slack_sdk alone opens a session, so a TCP connection, per API call
    rt, _, client = await _bot(make_runtime, slack_api)
    for i in range(3):  # one after the other: concurrent calls may each take a connection
        await _send(client, fake.event_body(fake.dm(f"m{i}", user=f"U{i}"), event_id=f"Ev{i}"))
        await _settle(rt, slack_api, i + 1)
    assert len(slack_api.posts()) == 3 and len(slack_api.peers) == 1


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
    await _settle(rt, slack_api, 0)  # every turn has ended: nothing came
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
    rt, channel, _ = await _bot(make_runtime, slack_api, app_token=SecretStr(fake.APP_TOKEN))
    await until(lambda: bool(slack_api.sockets))
    body = fake.event_body(fake.dm("socket hello"), event_id="EvS1")
    await slack_api.push_event(body, envelope_id="env-1")
    await slack_api.push_event(body, envelope_id="env-2", retry=1)  # a redelivery of the same event
    # bolt acks an envelope once its listener has started the turn; then the turns end
    await until(lambda: {a["envelope_id"] for a in slack_api.acks} >= {"env-1", "env-2"})
    await _settle(rt, slack_api, 1)
    assert [p["text"] for p in slack_api.posts()] == ["echo:socket hello"]
    await channel.stop()


def _form_headers(form: bytes) -> dict[str, str]:
    return fake.signed_headers(form, content_type="application/x-www-form-urlencoded")


async def test_events_and_interactions_without_a_listener_get_200(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    reaction = {  # shapes as in bolt-python's own scenario tests
        "type": "reaction_added",
        "user": "U123",
        "item": {"type": "message", "channel": "C777", "ts": "1700000002.000200"},
        "reaction": "heart_eyes",
        "item_user": "U123",
        "event_ts": "1700000003.000300",
    }
    home = {"type": "app_home_opened", "user": "U123", "channel": "D123", "tab": "home"}
    for i, event in enumerate((reaction, home)):
        response = await _send(client, fake.event_body(event, event_id=f"EvU{i}"))
        assert response.status_code == 200  # bolt alone says 404 and Slack redelivers
    payload = {
        "type": "block_actions",
        "user": {"id": "U123"},
        "team": {"id": fake.TEAM},
        "channel": {"id": "C777"},
        "container": {"type": "message", "message_ts": "1700000002.000200"},
        "trigger_id": "t9",
        "api_app_id": "A1",
        "token": "x",
        "actions": [{"type": "button", "action_id": "another_apps_button", "value": "v"}],
    }
    form = f"payload={json.dumps(payload)}".encode()
    response = await client.post(
        "/webhooks/slack/events", content=form, headers=_form_headers(form)
    )
    assert response.status_code == 200
    await _settle(rt, slack_api, 0)
    assert slack_api.posts() == []


async def test_socket_mode_acks_events_without_a_listener(make_runtime, slack_api) -> None:
    _, channel, _ = await _bot(make_runtime, slack_api, app_token=SecretStr(fake.APP_TOKEN))
    await until(lambda: bool(slack_api.sockets))
    event = {"type": "app_home_opened", "user": "U123", "channel": "D123", "tab": "home"}
    await slack_api.push_event(fake.event_body(event, event_id="EvS9"), envelope_id="env-9")
    await until(lambda: any(a["envelope_id"] == "env-9" for a in slack_api.acks))
    assert slack_api.posts() == []
    await channel.stop()


async def test_ssl_check_gets_200(make_runtime, slack_api) -> None:
    _, _, client = await _bot(make_runtime, slack_api)
    form = b"token=random&ssl_check=1"  # as bolt-python's test_ssl_check sends it
    response = await client.post(
        "/webhooks/slack/events", content=form, headers=_form_headers(form)
    )
    assert response.status_code == 200 and response.text == ""
    assert slack_api.posts() == []


async def test_a_dm_sent_in_a_thread_is_answered_in_that_thread(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    event = {**fake.dm("still there?", ts="1700000009.000900"), "thread_ts": "1700000001.000100"}
    assert (await _send(client, fake.event_body(event, event_id="EvT1"))).status_code == 200
    await _settle(rt, slack_api, 1)
    (post,) = slack_api.posts()
    assert post["text"] == "echo:still there?"
    assert (post["channel"], post["thread_ts"]) == ("D123", "1700000001.000100")


async def test_a_bare_mention_gets_a_short_help_once(make_runtime, slack_api) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    body = fake.event_body(fake.mention(""), event_id="EvM1")
    assert (await _send(client, body)).status_code == 200
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await _send(client, body, **retry)).status_code == 200
    await _settle(rt, slack_api, 1)
    (post,) = slack_api.posts()
    assert post["text"] == text("mention_help", "en")  # no words to go by: English
    assert post["thread_ts"] == "1700000002.000200"


async def test_a_bare_mention_in_a_chinese_thread_gets_the_help_in_chinese(
    make_runtime, slack_api
) -> None:
    rt, _, client = await _bot(make_runtime, slack_api)
    await _send(client, fake.event_body(fake.mention("我的订单到哪了"), event_id="EvZ1"))
    await _settle(rt, slack_api, 1)
    again = {**fake.mention("", ts="1700000005.000500"), "thread_ts": "1700000002.000200"}
    await _send(client, fake.event_body(again, event_id="EvZ2"))
    await _settle(rt, slack_api, 2)
    help_post = slack_api.posts()[-1]
    assert help_post["text"] == text("mention_help", "zh-CN")
    assert help_post["thread_ts"] == "1700000002.000200"
