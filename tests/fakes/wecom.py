"""A fake WeCom customer service (微信客服): the kf API server and the callbacks WeCom sends.

``FakeWeCom`` is an aiohttp server on 127.0.0.1 (port 0) answering like the real
API: ``cgi-bin/gettoken`` issues access tokens (a stale one gets 40014),
``cgi-bin/kf/sync_msg`` pages through each kf account's messages after a
cursor (``limit``, ``next_cursor``, ``has_more``; an unknown event token gets
95007), ``kf/send_msg`` enforces the 48-hour window and 5 sends per customer
message (95002, 95001) and records what it accepts in ``sent``,
``kf/send_msg_on_event`` takes each ``welcome_code`` once, and
``kf/service_state/trans`` records hand-overs. ``fail_next`` scripts failures
of the send calls: an int is an HTTP status, a string an errcode.

The request helpers sign and encrypt with wechatpy's enterprise ``WeChatCrypto``
exactly as WeCom does, so tests post what WeCom would post.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from wechatpy.enterprise.crypto import WeChatCrypto

from adapters.wecom import WeComSettings
from tests.fakes import listen

CORP_ID, SECRET, TOKEN = "ww0123456789abcdef", "test-kf-secret", "test-wecom-token"
AES_KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"  # 43 characters, as WeCom issues them
KFID = "wkTESTACCOUNT"
WINDOW_S, QUOTA = 48 * 3600, 5


def settings(base_url: str, **extra: Any) -> WeComSettings:
    """The fake corp's credentials, pointed at the fake API."""
    return WeComSettings(
        corp_id=CORP_ID,
        secret=SecretStr(SECRET),
        token=SecretStr(TOKEN),
        aes_key=SecretStr(AES_KEY),
        api_base_url=base_url,
        **extra,
    )


@dataclass
class FakeWeCom:
    """The API side of WeCom customer service."""

    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per open_kfid
    sent: list[dict[str, Any]] = field(default_factory=list)
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    sync_calls: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int | str] = field(default_factory=list)
    token_fetches: int = 0
    current_token: str = ""
    event_tokens: set[str] = field(default_factory=set)
    codes: set[str] = field(default_factory=set)
    # external_userid -> [time of their last message, sends since]
    windows: dict[str, list[float]] = field(default_factory=dict)
    runner: web.AppRunner | None = None
    base_url: str = ""

    async def start(self, port: int = 0) -> FakeWeCom:
        """Listen on 127.0.0.1 (``port`` 0: any free port); ``base_url`` is then set."""
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/kf/sync_msg", self._sync)
        app.router.add_post("/cgi-bin/kf/send_msg", self._send)
        app.router.add_post("/cgi-bin/kf/send_msg_on_event", self._on_event)
        app.router.add_post("/cgi-bin/kf/service_state/trans", self._trans)
        self.runner, self.base_url = await listen(app, port)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- what customers do --------------------------------------------------------------

    def customer_says(self, user: str, text: str, *, kfid: str = KFID) -> str:
        """A customer's text waits to be synced; returns its msgid."""
        msgid = f"msg{uuid.uuid4().hex[:16]}"
        now = time.time()
        self.windows[user] = [now, 0]
        self._add(
            kfid,
            {
                "msgid": msgid,
                "open_kfid": kfid,
                "external_userid": user,
                "send_time": int(now),
                "origin": 3,
                "msgtype": "text",
                "text": {"content": text},
            },
        )
        return msgid

    def customer_sends_image(self, user: str, *, kfid: str = KFID) -> str:
        msgid = f"img{uuid.uuid4().hex[:16]}"
        self.windows[user] = [time.time(), 0]
        self._add(
            kfid,
            {
                "msgid": msgid,
                "open_kfid": kfid,
                "external_userid": user,
                "send_time": int(time.time()),
                "origin": 3,
                "msgtype": "image",
                "image": {"media_id": "m1"},
            },
        )
        return msgid

    def servicer_says(self, user: str, text: str, *, kfid: str = KFID) -> None:
        """A WeCom agent wrote from the WeCom client (origin 5): not for the bot."""
        self._add(
            kfid,
            {
                "msgid": f"srv{uuid.uuid4().hex[:16]}",
                "open_kfid": kfid,
                "external_userid": user,
                "send_time": int(time.time()),
                "origin": 5,
                "servicer_userid": "zhangsan",
                "msgtype": "text",
                "text": {"content": text},
            },
        )

    def enters_session(self, user: str, *, kfid: str = KFID) -> str:
        """The customer opens the chat: an ``enter_session`` event; returns its welcome_code."""
        code = f"wc{uuid.uuid4().hex[:12]}"
        self.codes.add(code)
        self._add(
            kfid,
            {
                "msgid": f"evt{uuid.uuid4().hex[:16]}",
                "send_time": int(time.time()),
                "origin": 4,
                "msgtype": "event",
                "event": {
                    "event_type": "enter_session",
                    "open_kfid": kfid,
                    "external_userid": user,
                    "scene": "1",
                    "welcome_code": code,
                },
            },
        )
        return code

    def _add(self, kfid: str, item: dict[str, Any]) -> None:
        self.messages.setdefault(kfid, []).append(item)

    # -- the API ----------------------------------------------------------------------------

    async def _gettoken(self, request: web.Request) -> web.Response:
        if request.query.get("corpid") != CORP_ID or request.query.get("corpsecret") != SECRET:
            return web.json_response({"errcode": 40013, "errmsg": "invalid corpid"})
        self.token_fetches += 1
        self.current_token = f"ACCESS-{self.token_fetches}"
        return web.json_response(
            {"errcode": 0, "errmsg": "ok", "access_token": self.current_token, "expires_in": 7200}
        )

    def _bad_token(self, request: web.Request) -> web.Response | None:
        if request.query.get("access_token") != self.current_token:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        return None

    async def _sync(self, request: web.Request) -> web.Response:
        if (refused := self._bad_token(request)) is not None:
            return refused
        body = json.loads(await request.read())
        self.sync_calls.append(body)
        token = body.get("token")
        if token is not None and token not in self.event_tokens:
            return web.json_response({"errcode": 95007, "errmsg": "invalid msg token"})
        items = self.messages.get(body.get("open_kfid", ""), [])
        cursor = str(body.get("cursor") or "")
        start = int(cursor[1:]) if cursor.startswith("c") else 0
        end = min(len(items), start + int(body.get("limit") or 1000))
        return web.json_response(
            {
                "errcode": 0,
                "errmsg": "ok",
                "next_cursor": f"c{end}",
                "has_more": 1 if end < len(items) else 0,
                "msg_list": items[start:end],
            }
        )

    def _scripted(self) -> web.Response | None:
        if not self.fail_next:
            return None
        failure = self.fail_next.pop(0)
        if isinstance(failure, int):
            return web.json_response(
                {"errmsg": "busy"}, status=failure, headers={"Retry-After": "0"}
            )
        return web.json_response({"errcode": int(failure), "errmsg": "scripted failure"})

    async def _send(self, request: web.Request) -> web.Response:
        if (refused := self._scripted() or self._bad_token(request)) is not None:
            return refused
        body = json.loads(await request.read())
        window = self.windows.get(body.get("touser", ""))
        if window is None or window[0] + WINDOW_S < time.time():
            return web.json_response({"errcode": 95002, "errmsg": "send msg time limit"})
        if window[1] >= QUOTA:
            return web.json_response({"errcode": 95001, "errmsg": "send msg count limit"})
        window[1] += 1
        self.sent.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": uuid.uuid4().hex})

    async def _on_event(self, request: web.Request) -> web.Response:
        if (refused := self._scripted() or self._bad_token(request)) is not None:
            return refused
        body = json.loads(await request.read())
        if body.get("code") not in self.codes:
            return web.json_response({"errcode": 95000, "errmsg": "invalid or used code"})
        self.codes.discard(body["code"])
        self.welcomes.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": uuid.uuid4().hex})

    async def _trans(self, request: web.Request) -> web.Response:
        if (refused := self._scripted() or self._bad_token(request)) is not None:
            return refused
        self.transfers.append(json.loads(await request.read()))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def expire_token(self) -> None:
        """Invalidate the issued access token: calls get errcode 40014 until a refresh."""
        self.current_token = "expired"

    def texts(self) -> list[str]:
        return [m["text"]["content"] for m in self.sent]

    # -- what WeCom posts to the bot ----------------------------------------------------------

    def callback(
        self, *, kfid: str = KFID, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """Query and body of a ``kf_msg_or_event`` callback with a fresh sync token."""
        token = f"ENC{uuid.uuid4().hex}"
        self.event_tokens.add(token)
        xml = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[kf_msg_or_event]]></Event><Token><![CDATA[{token}]]></Token>"
            f"<OpenKfId><![CDATA[{kfid}]]></OpenKfId></xml>"
        )
        return encrypted(xml, timestamp=timestamp)


def encrypted(xml: str | bytes, *, timestamp: int | None = None) -> tuple[dict[str, str], bytes]:
    """Query and body of a POST as WeCom sends it: ``<Encrypt>`` signed with ``msg_signature``.

    ``xml`` may be bytes that are no UTF-8: WeCom would never send them, a fuzz test does.
    """
    crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    ts, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex[:10]
    envelope = crypto.encrypt_message(xml, nonce, ts)
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    query = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><AgentID><![CDATA[1]]></AgentID>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
    return query, body.encode()


def verification(echostr: str, *, corp_id: str = CORP_ID) -> dict[str, str]:
    """The query of the URL verification GET: ``echostr`` encrypted and signed."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, corp_id)
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    envelope = crypto.encrypt_message(echostr, nonce, ts)
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    return {"msg_signature": signature, "timestamp": ts, "nonce": nonce, "echostr": encrypt}
