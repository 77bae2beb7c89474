"""A fake Feishu open platform on 127.0.0.1: the open API, the long connection, signed events.

``FakeFeishu`` answers the calls the plug-in makes: the tenant token
(``auth/v3/tenant_access_token/internal``, counted in ``token_fetches``),
``bot/v3/info``, ``im/v1/messages`` (create, reply, patch) and
``contact/v3/users/{open_id}``, recording each call in ``calls``. It also
serves the long connection as lark-oapi's client expects it: the endpoint
``/callback/ws/endpoint``, then a websocket of protobuf ``Frame``s (the SDK's own
``pbbp2`` definition); ``push`` sends an event frame and ``acks`` keeps the
answers. ``signed`` and ``encrypted`` build webhook requests as Feishu does.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from Crypto.Cipher import AES
from lark_oapi.ws.pb.pbbp2_pb2 import Frame

from tests.fakes import listen

APP_ID, APP_SECRET = "cli_test_app", "test-app-secret"
VERIFICATION_TOKEN, ENCRYPT_KEY = "test-verification-token", "test-encrypt-key"
BOT_OPEN_ID, TENANT = "ou_bot", "tenant-1"
TOKEN = "t-test-token"


@dataclass
class FakeFeishu:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    token_fetches: int = 0
    base_url: str = ""
    runner: web.AppRunner | None = None
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    acks: list[dict[str, Any]] = field(default_factory=list)  # long-connection answers
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    async def start(self) -> FakeFeishu:
        app = web.Application()
        app.router.add_post("/open-apis/auth/v3/tenant_access_token/internal", self._token)
        app.router.add_route("*", "/open-apis/{path:.*}", self._api)
        app.router.add_post("/callback/ws/endpoint", self._endpoint)
        app.router.add_get("/ws", self._socket)
        self.runner, self.base_url = await listen(app)
        return self

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    # -- the open API --------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("app_id"), body.get("app_secret")) != (APP_ID, APP_SECRET):
            return web.json_response({"code": 10014, "msg": "app secret invalid"})
        self.token_fetches += 1
        return web.json_response(
            {"code": 0, "msg": "ok", "tenant_access_token": TOKEN, "expire": 7200}
        )

    async def _api(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"code": 99991663, "msg": "invalid access token"}, status=400)
        path = request.match_info["path"]
        body = await request.json() if request.can_read_body else {}
        if path == "bot/v3/info":
            return web.json_response({"code": 0, "bot": {"open_id": BOT_OPEN_ID}})
        if path.startswith("contact/v3/users/"):
            open_id = path.rsplit("/", 1)[-1]
            return web.json_response({"code": 0, "data": {"user": {"name": f"Agent {open_id}"}}})
        if path == "im/v1/messages" and request.method == "POST":
            assert request.query.get("receive_id_type") == "chat_id"
            return self._record("send", body, chat=body["receive_id"])
        if path.startswith("im/v1/messages/") and path.endswith("/reply"):
            target = path.split("/")[3]
            return self._record("reply", {**body, "message_id": target}, chat="")
        if path.startswith("im/v1/messages/") and request.method == "PATCH":
            return self._record("patch", {**body, "message_id": path.split("/")[3]}, chat="")
        return web.json_response({"code": 404, "msg": f"no such API {path}"}, status=404)

    def _record(self, method: str, args: dict[str, Any], *, chat: str) -> web.Response:
        self.calls.append((method, args))
        message_id = f"om_{next(self._ids)}"
        data = {"message_id": message_id, "chat_id": chat}
        if args.get("reply_in_thread"):
            data["thread_id"] = f"omt_{args['message_id']}"
        return web.json_response({"code": 0, "msg": "success", "data": data})

    def sent(self, method: str | None = None) -> list[dict[str, Any]]:
        """The send, reply and patch calls (``method`` picks one kind)."""
        return [a for m, a in list(self.calls) if method in (None, m)]

    def texts(self) -> list[str]:
        """The text of every text message sent or replied."""
        return [
            json.loads(a["content"])["text"]
            for m, a in list(self.calls)
            if m in ("send", "reply") and a.get("msg_type") == "text"
        ]

    # -- the long connection -------------------------------------------------------

    async def _endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        if (body.get("AppID"), body.get("AppSecret")) != (APP_ID, APP_SECRET):
            return web.json_response({"code": 514, "msg": "auth failed"})
        url = self.base_url.replace("http", "ws") + "/ws?device_id=dev-1&service_id=7"
        config = {"PingInterval": 120, "ReconnectCount": -1, "ReconnectInterval": 1}
        return web.json_response(
            {"code": 0, "data": {"URL": url, "ClientConfig": {**config, "ReconnectNonce": 0}}}
        )

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        async for msg in ws:
            if msg.type.name != "BINARY":
                continue
            frame = Frame()
            frame.ParseFromString(msg.data)
            if frame.method == 1:  # DATA: the answer to an event frame
                headers = {h.key: h.value for h in frame.headers}
                self.acks.append({**json.loads(frame.payload), "message_id": headers["message_id"]})
        self.sockets.remove(ws)
        return ws

    async def push(self, payload: dict[str, Any], *, frame_id: str) -> None:
        """Send one event over the long connection, as a DATA frame of type ``event``."""
        frame = Frame()
        frame.SeqID, frame.LogID, frame.service, frame.method = 1, 1, 7, 1
        for key, value in (
            ("type", "event"),
            ("message_id", frame_id),
            ("trace_id", f"trace-{frame_id}"),
            ("sum", "1"),
            ("seq", "0"),
        ):
            header = frame.headers.add()
            header.key, header.value = key, value
        frame.payload = json.dumps(payload).encode()
        for ws in list(self.sockets):
            await ws.send_bytes(frame.SerializeToString())


# -- webhook requests ------------------------------------------------------------------


def encrypt(plain: bytes, key: str = ENCRYPT_KEY) -> str:
    """Feishu's event encryption: AES-256-CBC, key sha256(key), random IV first, base64."""
    iv = os.urandom(16)
    pad = 16 - len(plain) % 16
    cipher = AES.new(hashlib.sha256(key.encode()).digest(), AES.MODE_CBC, iv)
    return base64.b64encode(iv + cipher.encrypt(plain + bytes([pad]) * pad)).decode()


def encrypted(payload: dict[str, Any], key: str = ENCRYPT_KEY) -> bytes:
    """The body Feishu posts when the app has an encrypt key."""
    return json.dumps({"encrypt": encrypt(json.dumps(payload).encode(), key)}).encode()


def signed(
    body: bytes, *, key: str = ENCRYPT_KEY, timestamp: int | None = None, nonce: str = "n-1"
) -> dict[str, str]:
    """The headers of a signed event: sha256(timestamp + nonce + encrypt_key + body)."""
    ts = str(timestamp or int(time.time()))
    digest = hashlib.sha256((ts + nonce + key).encode() + body).hexdigest()
    return {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": digest,
        "Content-Type": "application/json",
    }


def challenge(value: str, token: str = VERIFICATION_TOKEN) -> dict[str, Any]:
    return {"challenge": value, "token": token, "type": "url_verification"}


def _header(event_type: str, event_id: str, token: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": event_type,
        "create_time": str(int(time.time() * 1000)),
        "token": token,
        "app_id": APP_ID,
        "tenant_key": TENANT,
    }


def message_event(
    text: str,
    *,
    event_id: str,
    chat_id: str = "oc_p2p_1",
    chat_type: str = "p2p",
    open_id: str = "ou_customer",
    message_id: str | None = None,
    thread_id: str | None = None,
    root_id: str | None = None,
    mention_bot: bool = False,
    sender_type: str = "user",
    token: str = VERIFICATION_TOKEN,
) -> dict[str, Any]:
    """An ``im.message.receive_v1`` event with a text message (mentions as Feishu keys them)."""
    mentions = []
    if mention_bot:
        text = f"@_user_1 {text}"
        mentions = [
            {"key": "@_user_1", "id": {"open_id": BOT_OPEN_ID}, "name": "CS Bot"},
        ]
    message: dict[str, Any] = {
        "message_id": message_id or f"om_in_{event_id}",
        "chat_id": chat_id,
        "chat_type": chat_type,
        "message_type": "text",
        "content": json.dumps({"text": text}),
        "create_time": str(int(time.time() * 1000)),
        "mentions": mentions,
    }
    if thread_id:
        message["thread_id"] = thread_id
    if root_id:
        message["root_id"] = message["parent_id"] = root_id
    return {
        "schema": "2.0",
        "header": _header("im.message.receive_v1", event_id, token),
        "event": {
            "sender": {
                "sender_id": {"open_id": open_id, "union_id": f"on_{open_id}"},
                "sender_type": sender_type,
                "tenant_key": TENANT,
            },
            "message": message,
        },
    }


def card_action(
    action: str, ticket: str, *, event_id: str, open_id: str, chat_id: str, message_id: str
) -> dict[str, Any]:
    """A ``card.action.trigger`` callback: a button on an interactive card was pressed."""
    return {
        "schema": "2.0",
        "header": _header("card.action.trigger", event_id, VERIFICATION_TOKEN),
        "event": {
            "operator": {"open_id": open_id, "tenant_key": TENANT},
            "token": f"c-{event_id}",
            "action": {"tag": "button", "value": {"action": action, "ticket": ticket}},
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id},
        },
    }
