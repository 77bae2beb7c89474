"""Hostile input at every webhook: never a 500, never a hang, never a dead worker.

Hypothesis generates broken XML, entity bombs, invalid UTF-8, deep JSON,
Unicode edge cases and random bytes; requests are correctly signed so they
reach the parsers. The app runs on its own event loop so hypothesis can
drive it example by example.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters import slack, wechat
from bot.brain import EchoBrain
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from service.app import create_app
from service.plugins import add_platform
from tests.conftest import make_client
from tests.fakes import slack as fslack
from tests.fakes import wechat as fwechat
from tests.platforms import slack_settings, wechat_settings

OK = {200, 400, 401, 403, 413, 503}

xml_like = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(
        lambda t: f"<xml><MsgType>text</MsgType><Content>{t}</Content></xml>".encode()
    ),
    st.text(alphabet="<>/![]&;\"' xmlCDATAFromUserName", max_size=300).map(str.encode),
    st.integers(1, 30).map(
        lambda n: (
            '<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "'
            + "x" * 50
            + '">'
            + "".join(f'<!ENTITY a{i} "&a;&a;&a;">' for i in range(n))
            + "]><xml>&a"
            + str(n - 1)
            + ";</xml>"
        ).encode()
    ),
    st.sampled_from([b"\xff\xfe\x00", b"\xed\xa0\x80", "\u202e\u0000\ufeff".encode(), b""]),
)


def _nested(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()


json_like = st.one_of(
    st.binary(max_size=2000),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=30,
    ).map(lambda v: json.dumps(v).encode()),
    st.integers(10, 5000).map(_nested),
    st.dictionaries(
        st.sampled_from(["type", "event", "event_id", "team_id", "challenge"]),
        st.text(max_size=20) | st.integers() | st.none(),
        max_size=5,
    ).map(lambda d: json.dumps(d).encode()),
)


@pytest.fixture(scope="module")
def app_client(
    redis_target: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    from bot.settings import load_settings

    loop = asyncio.new_event_loop()
    settings = load_settings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        log_json=False,
    )

    async def build() -> tuple[Runtime, httpx.AsyncClient]:
        runtime = Runtime(settings, RedisHandle(make_client(redis_target), "fuzz"))
        own = wechat_settings("http://127.0.0.1:1", reply_budget_s=0.2)
        add_platform(runtime, wechat.PLATFORM, own)
        add_platform(runtime, slack.PLATFORM, slack_settings("http://127.0.0.1:1/api/"))
        await runtime.start()
        runtime.use(brain=EchoBrain())
        return runtime, httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(runtime)),
            base_url="http://bot",
            timeout=10,
        )

    runtime, client = loop.run_until_complete(build())
    yield loop, client
    loop.run_until_complete(client.aclose())
    loop.run_until_complete(runtime.stop())
    loop.close()


def _post(
    app_client: Any,
    path: str,
    body: bytes,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, float]:
    loop, client = app_client
    started = time.monotonic()
    response = loop.run_until_complete(
        client.post(path, content=body, params=params, headers=headers)
    )
    return response.status_code, time.monotonic() - started


FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=xml_like)
def test_wechat_webhook_survives_hostile_xml(app_client: Any, body: bytes) -> None:
    query, _ = fwechat.plain_post("")
    status, seconds = _post(app_client, "/webhooks/wechat", body, params=query)
    assert status in OK and seconds < 5


@FUZZ
@given(body=json_like)
def test_slack_webhook_survives_hostile_json(app_client: Any, body: bytes) -> None:
    status, seconds = _post(
        app_client, "/webhooks/slack/events", body, headers=fslack.signed_headers(body)
    )
    assert status in OK and seconds < 5


@FUZZ
@given(text=st.text(max_size=300))
def test_wechat_text_content_of_any_unicode(app_client: Any, text: str) -> None:
    cleaned = text.replace("]]>", "").replace("\x00", "")
    query, body = fwechat.plain_post(fwechat.text_xml("oFuzz", cleaned))
    status, _ = _post(app_client, "/webhooks/wechat", body, params=query)
    assert status in OK
