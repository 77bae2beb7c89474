"""Hostile input at every webhook: never a 500, never a hang, never a dead worker.

Hypothesis generates broken XML, entity bombs, invalid UTF-8, deep JSON,
Unicode edge cases and random bytes; requests are correctly signed so they
reach the parsers. WeCom and Feishu are in :mod:`tests.fuzz.test_webhooks_fuzz_cn`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import slack, wechat
from bot.runtime import Runtime
from service.plugins import add_platform
from tests.fakes import slack as fslack
from tests.fakes import wechat as fwechat
from tests.fuzz.support import FUZZ, OK, Served, json_like, post, serving, xml_like
from tests.platforms import slack_settings, wechat_settings


@pytest.fixture(scope="module")
def app_client(
    redis_target: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    async def wire(runtime: Runtime) -> None:
        own = wechat_settings("http://127.0.0.1:1", reply_budget_s=0.2)
        add_platform(runtime, wechat.PLATFORM, own)
        add_platform(runtime, slack.PLATFORM, slack_settings("http://127.0.0.1:1/api/"))

    with serving(redis_target, tmp_path_factory.mktemp("fuzz"), wire) as served:
        yield served


@FUZZ
@given(body=xml_like)
def test_wechat_webhook_survives_hostile_xml(app_client: Served, body: bytes) -> None:
    query, _ = fwechat.plain_post("")
    status, seconds = post(app_client, "/webhooks/wechat", body, params=query)
    assert status in OK and seconds < 5


@FUZZ
@given(body=json_like)
def test_slack_webhook_survives_hostile_json(app_client: Served, body: bytes) -> None:
    status, seconds = post(
        app_client, "/webhooks/slack/events", body, headers=fslack.signed_headers(body)
    )
    assert status in OK and seconds < 5


@FUZZ
@given(text=st.text(max_size=300))
def test_wechat_text_content_of_any_unicode(app_client: Served, text: str) -> None:
    cleaned = text.replace("]]>", "").replace("\x00", "")
    query, body = fwechat.plain_post(fwechat.text_xml("oFuzz", cleaned))
    status, _ = post(app_client, "/webhooks/wechat", body, params=query)
    assert status in OK
