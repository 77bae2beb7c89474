"""Hostile input at the WeCom and Feishu webhooks: never a 500, never a hang, no second reply.

The hostile payloads are correctly signed and encrypted with the fakes' own
helpers, so they get past the crypto into the parsers: broken XML, entity bombs
and invalid UTF-8 inside WeCom's ``<Encrypt>``; random and deep JSON, fields of
the wrong type and hostile Unicode inside a Feishu event, encrypted or plain.
Forged signatures get 403 (WeCom) or 401 (Feishu), as on WeChat and Slack; a
replayed event gets no second reply, and a stale one is refused.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import feishu, wecom
from bot.runtime import Runtime
from service.plugins import add_platform
from tests.adapters.feishu.support import feishu_settings
from tests.fakes import feishu as ffeishu
from tests.fakes import wecom as fwecom
from tests.fakes.feishu import FakeFeishu
from tests.fakes.wecom import FakeWeCom
from tests.fuzz.support import (
    FUZZ,
    OK,
    Served,
    json_like,
    json_values,
    post,
    serving,
    xml_like,
)
from tests.helpers import settled, until

WECOM, FEISHU = "/webhooks/wecom", "/webhooks/feishu"
FEW = settings(FUZZ, max_examples=25)  # a whole turn per example: fewer of them

hostile_text = st.one_of(
    st.text(
        st.characters(categories=("Cs", "Cc", "Cf", "Co", "Zl", "Zp", "Mn", "So", "Lo")),
        max_size=200,
    ),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "\u202e\u2066", "\ufeff" * 3, "𝕏" * 2000]),
)

# Where a Feishu message event may carry something of the wrong type.
FEISHU_PATHS = [
    ("header",),
    ("event",),
    ("header", "event_id"),
    ("header", "tenant_key"),
    ("event", "sender"),
    ("event", "sender", "sender_id"),
    ("event", "sender", "sender_type"),
    ("event", "message"),
    ("event", "message", "chat_id"),
    ("event", "message", "chat_type"),
    ("event", "message", "thread_id"),
    ("event", "message", "message_id"),
    ("event", "message", "message_type"),
    ("event", "message", "content"),
    ("event", "message", "mentions"),
]
mutations = st.lists(
    st.tuples(st.sampled_from(FEISHU_PATHS), json_values | hostile_text), min_size=1, max_size=3
)


@pytest.fixture(scope="module")
def app(redis_target: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app with WeCom and Feishu, each pointed at its fake on the app's loop."""
    fakes: dict[str, Any] = {}

    async def wire(runtime: Runtime) -> None:
        fakes["kf"] = kf = await FakeWeCom().start()
        fakes["lark"] = lark = await FakeFeishu().start()
        add_platform(runtime, wecom.PLATFORM, fwecom.settings(kf.base_url, reply_budget_s=3.0))
        add_platform(runtime, feishu.PLATFORM, feishu_settings(lark.base_url))

    with serving(redis_target, tmp_path_factory.mktemp("fuzz-cn"), wire) as served:
        yield served, fakes["kf"], fakes["lark"]
        served.run(fakes["kf"].stop())
        served.run(fakes["lark"].stop())


def _feishu(served: Served, body: bytes, headers: dict[str, str]) -> int:
    status, seconds = post(served, FEISHU, body, headers=headers)
    assert status in OK and seconds < 5, (status, seconds)
    return status


def _mutated(payload: dict[str, Any], changes: list[tuple[tuple[str, ...], Any]]) -> None:
    for path, value in changes:
        node: Any = payload
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[path[-1]] = value


# -- WeCom ------------------------------------------------------------------------------------


@FUZZ
@given(body=xml_like)
def test_wecom_envelope_survives_hostile_xml(app: Any, body: bytes) -> None:
    served, _, _ = app
    query, _ = fwecom.encrypted("<xml/>")
    status, seconds = post(served, WECOM, body, params=query)
    assert status in OK and seconds < 5


@FUZZ
@given(inner=xml_like | hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_wecom_decrypted_payload_survives_hostile_xml(app: Any, inner: bytes) -> None:
    served, _, _ = app
    query, body = fwecom.encrypted(inner)  # signed and encrypted: only the inside is hostile
    status, seconds = post(served, WECOM, body, params=query)
    assert status in OK and seconds < 5


@FEW
@given(kfid=hostile_text, token=hostile_text)
def test_wecom_event_fields_of_any_text(app: Any, kfid: str, token: str) -> None:
    served, _, _ = app
    clean = [v.replace("]]>", "").encode("utf-8", "replace").decode() for v in (kfid, token)]
    xml = (
        "<xml><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
        f"<Token><![CDATA[{clean[1]}]]></Token><OpenKfId><![CDATA[{clean[0]}]]></OpenKfId></xml>"
    )
    query, body = fwecom.encrypted(xml)
    status, seconds = post(served, WECOM, body, params=query)
    assert status in OK and seconds < 5


@FEW
@given(text=hostile_text)
def test_wecom_customer_text_of_any_unicode(app: Any, text: str) -> None:
    served, kf, _ = app
    kf.customer_says(f"wm-{uuid.uuid4().hex[:8]}", text)
    query, body = kf.callback()
    status, seconds = post(served, WECOM, body, params=query)
    assert status in OK and seconds < 5


@FUZZ
@given(signature=st.text(max_size=60), get=st.booleans())
def test_wecom_forged_signatures_are_403(app: Any, signature: str, get: bool) -> None:
    served, kf, _ = app
    query, body = kf.callback() if not get else ({**fwecom.verification("e")}, b"")
    forged = {**query, "msg_signature": signature}
    client = served.client
    call = (
        client.get(WECOM, params=forged) if get else client.post(WECOM, params=forged, content=body)
    )
    assert served.run(call).status_code == 403


def test_a_replayed_wecom_callback_gets_no_second_reply(app: Any) -> None:
    served, kf, _ = app
    user = f"wm-replay-{uuid.uuid4().hex[:8]}"
    kf.customer_says(user, "hello once")
    query, body = kf.callback()
    assert post(served, WECOM, body, params=query)[0] == 200
    served.run(until(lambda: any(m["touser"] == user for m in kf.sent)))
    assert post(served, WECOM, body, params=query)[0] in {200, 503}  # fresh: synced, nothing new
    served.run(settled(served.runtime))
    assert [m["touser"] for m in kf.sent].count(user) == 1
    stale = kf.callback(timestamp=int(time.time()) - 3600)
    assert post(served, WECOM, stale[1], params=stale[0])[0] == 403


# -- Feishu -----------------------------------------------------------------------------------


@FUZZ
@given(body=json_like, encrypt=st.booleans())
def test_feishu_survives_hostile_json(app: Any, body: bytes, encrypt: bool) -> None:
    served, _, _ = app
    if encrypt:  # the envelope is right; what it decrypts to is hostile
        body = json.dumps({"encrypt": ffeishu.encrypt(body)}).encode()
    _feishu(served, body, ffeishu.signed(body))


@FUZZ
@given(
    changes=mutations,
    group=st.booleans(),
    encrypt=st.booleans(),
    text=hostile_text,
)
def test_feishu_message_fields_of_the_wrong_type(
    app: Any, changes: list[Any], group: bool, encrypt: bool, text: str
) -> None:
    served, _, _ = app
    payload = ffeishu.message_event(
        text,
        event_id=f"ev-{uuid.uuid4().hex}",
        chat_type="group" if group else "p2p",
        mention_bot=group,
    )
    _mutated(payload, changes)
    raw = json.dumps(payload).encode()
    body = json.dumps({"encrypt": ffeishu.encrypt(raw)}).encode() if encrypt else raw
    _feishu(served, body, ffeishu.signed(body))


@FEW
@given(text=hostile_text)
def test_feishu_text_of_any_unicode_is_answered_or_refused(app: Any, text: str) -> None:
    served, _, _ = app
    payload = ffeishu.message_event(text, event_id=f"ev-{uuid.uuid4().hex}")
    body = ffeishu.encrypted(payload)
    _feishu(served, body, ffeishu.signed(body))


@FUZZ
@given(
    signature=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=70),
    key=st.sampled_from([None, "not-the-key"]),
)
def test_feishu_forged_signatures_are_401(app: Any, signature: str, key: str | None) -> None:
    served, _, _ = app
    body = ffeishu.encrypted(ffeishu.message_event("hi", event_id=f"ev-{uuid.uuid4().hex}"))
    headers = ffeishu.signed(body, key=key or ffeishu.ENCRYPT_KEY)
    if key is None:
        headers["X-Lark-Signature"] = signature
    assert _feishu(served, body, headers) == 401


def test_feishu_wrong_token_is_403_and_a_replay_gets_no_second_reply(app: Any) -> None:
    served, _, lark = app
    wrong = ffeishu.encrypted(ffeishu.message_event("x", event_id="ev-wrong", token="forged"))
    assert _feishu(served, wrong, ffeishu.signed(wrong)) == 403
    chat = f"oc_replay_{uuid.uuid4().hex[:8]}"
    body = ffeishu.encrypted(
        ffeishu.message_event("hi once", event_id=chat, chat_id=chat, open_id=f"ou_{chat}")
    )
    headers = ffeishu.signed(body)
    assert _feishu(served, body, headers) == 200
    assert _feishu(served, body, headers) == 200  # the same event again, still fresh
    served.run(settled(served.runtime))
    assert [a.get("receive_id") for a in lark.sent("send")].count(chat) == 1
    stale = ffeishu.signed(body, timestamp=int(time.time()) - 3600)
    assert _feishu(served, body, stale) == 401


@pytest.mark.parametrize("path", [WECOM, FEISHU])
def test_oversized_bodies_are_413(app: Any, path: str) -> None:
    served, kf, _ = app
    body = b"x" * (served.runtime.settings.max_body_bytes + 1)
    query = kf.callback()[0] if path == WECOM else None
    headers = ffeishu.signed(body) if path == FEISHU else None
    assert post(served, path, body, params=query, headers=headers)[0] == 413
