"""A fake DingTalk, in its own thread and event loop (like the real, remote platform).

It serves the Stream gateway (``/v1.0/gateway/connections/open`` and a
websocket that sends ``CALLBACK`` frames shaped like the real gateway's and
records the acks), ``/v1.0/oauth2/accessToken``, the robot send endpoints
(checking ``x-acs-dingtalk-access-token``) and a sessionWebhook endpoint.

API for tests (all methods are safe to call from the test's own loop)::

    ding = FakeDingTalk().start()      # ding.base_url -> DINGTALK_API_BASE_URL
    ding.push(robot_message("hi", msg_id="m1", base_url=ding.base_url))  # -> frame id
    ding.ping()                        # a SYSTEM ping; its echo lands in ding.acks
    ding.sent                          # [(path, body)] of accepted sends, in order
    ding.texts()                       # the text of each accepted send
    ding.acks                          # every frame the client sent back
    ding.received                      # [(path, headers, body)] of every HTTP request
    ding.token_fetches                 # accessToken calls that succeeded
    ding.open_sockets                  # gateway websockets still open
    ding.connections                   # websockets opened so far (reconnects count)
    ding.disconnect()                  # SYSTEM "disconnect", then the gateway closes the socket
    ding.fail_next = [500, 429]        # the next sends answer these statuses (Retry-After: 0)
    ding.fail_token_next = [500]       # the next accessToken calls answer these statuses
    ding.webhooks_expired = True       # sessionWebhooks answer errcode 300001
    ding.listener = fn                 # fn(path, body) on each accepted send (fake's thread)
    ding.stop()

By default ``push`` sends a frame to every connected client. With
``FakeDingTalk(redeliver_after_s=10)`` it behaves like the gateway with several
connections: each frame goes to one connection (round robin), and a frame not
acked within ``redeliver_after_s``, or whose connection closed, is sent again to
another connection under a new frame id with the same data.

``robot_message`` builds a payload like DingTalk's (1:1 or group @-mention,
valid or expired webhook), ``rich_text_message`` and ``audio_message`` the
other kinds a user sends (shapes of DingTalk's "机器人接收消息" page);
``signed_headers`` signs an HTTP outgoing-mode request. Credentials are
``CLIENT_ID`` / ``CLIENT_SECRET``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes import listen

CLIENT_ID, CLIENT_SECRET, ROBOT = "dingtestapp", "dingtestsecret", "robot-1"


class FakeDingTalk:
    """The DingTalk gateway and OpenAPI on 127.0.0.1 (see the module docstring)."""

    def __init__(self, *, redeliver_after_s: float | None = None) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (endpoint, body)
        self.listener: Callable[[str, dict[str, Any]], None] | None = None
        self.redeliver_after_s = redeliver_after_s
        self.redeliveries = 0
        self._unacked: dict[str, tuple[dict[str, Any], float, web.WebSocketResponse]] = {}
        self._next_socket = 0
        self.acks: list[dict[str, Any]] = []
        self.token_fetches = 0
        self.fail_next: list[int] = []
        self.webhooks_expired = False
        self.fail_token_next: list[int] = []
        self.connections = 0
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._sockets: list[web.WebSocketResponse] = []
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> FakeDingTalk:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        async def cleanup() -> None:
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1.0/gateway/connections/open", self._open)
        app.router.add_get("/connect", self._ws)
        app.router.add_post("/v1.0/oauth2/accessToken", self._token)
        app.router.add_post("/v1.0/robot/oToMessages/batchSend", self._send)
        app.router.add_post("/v1.0/robot/groupMessages/send", self._send)
        app.router.add_post("/session/{sid}", self._send)
        self._runner, self.base_url = self._loop.run_until_complete(listen(app))
        self._ready.set()
        if self.redeliver_after_s is not None:
            self._loop.create_task(self._redeliver_loop())
        self._loop.run_forever()

    @property
    def open_sockets(self) -> int:
        """Gateway websockets the client still holds open."""
        return sum(1 for ws in self._sockets if not ws.closed)

    async def _record(self, request: web.Request) -> Any:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.received.append((request.path, dict(request.headers), body))
        return body if isinstance(body, dict) else {}

    async def _open(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if body.get("clientId") != CLIENT_ID or body.get("clientSecret") != CLIENT_SECRET:
            return web.json_response({"code": "InvalidAuthentication"}, status=401)
        topics = {(sub.get("type"), sub.get("topic")) for sub in body.get("subscriptions") or []}
        if ("CALLBACK", "/v1.0/im/bot/messages/get") not in topics:
            return web.json_response({"code": "InvalidParameter.subscriptions"}, status=400)
        return web.json_response(
            {"endpoint": self.base_url.replace("http", "ws") + "/connect", "ticket": "ticket+1/="}
        )

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        if request.query.get("ticket") != "ticket+1/=":  # the ticket must survive URL quoting
            raise web.HTTPForbidden()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self.connections += 1
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                ack = json.loads(msg.data)
                self.acks.append(ack)
                self._unacked.pop(ack.get("headers", {}).get("messageId", ""), None)
        return ws

    async def _token(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if body.get("appKey") != CLIENT_ID or body.get("appSecret") != CLIENT_SECRET:
            return web.json_response({"code": "invalid"}, status=400)
        if self.fail_token_next:
            return web.json_response(
                {"code": "ServiceUnavailable"},
                status=self.fail_token_next.pop(0),
                headers={"Retry-After": "0"},
            )
        self.token_fetches += 1
        return web.json_response({"accessToken": f"DT-{self.token_fetches}", "expireIn": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if self.fail_next:
            return web.json_response(
                {"errmsg": "busy"}, status=self.fail_next.pop(0), headers={"Retry-After": "0"}
            )
        if not request.path.startswith("/session/") and not request.headers.get(
            "x-acs-dingtalk-access-token", ""
        ).startswith("DT-"):
            return web.json_response({"code": "InvalidAuthentication"}, status=401)
        if self.webhooks_expired and request.path.startswith("/session/"):
            return web.json_response({"errcode": 300001, "errmsg": "session webhook expired"})
        self.sent.append((request.path, body))
        if self.listener is not None:
            self.listener(request.path, body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # -- driving the gateway -------------------------------------------------

    def push(self, data: dict[str, Any], *, frame_id: str | None = None) -> str:
        """Send a robot message as a CALLBACK frame (see the module docstring for to whom)."""
        frame_id = frame_id or uuid.uuid4().hex
        asyncio.run_coroutine_threadsafe(self._push(data, frame_id), self._loop).result(5)
        return frame_id

    async def _push(self, data: dict[str, Any], frame_id: str) -> None:
        frame = _callback_frame(data, frame_id)
        if self.redeliver_after_s is None:
            for ws in self._sockets:
                if not ws.closed:
                    await ws.send_str(frame)
            return
        open_sockets = [ws for ws in self._sockets if not ws.closed]
        if not open_sockets:  # nobody connected: keep it for the redelivery loop
            self._unacked[frame_id] = (data, 0.0, web.WebSocketResponse())
            return
        self._next_socket += 1
        ws = open_sockets[self._next_socket % len(open_sockets)]
        self._unacked[frame_id] = (data, time.monotonic(), ws)
        try:
            await ws.send_str(frame)
        except ConnectionError:
            pass  # the redelivery loop sends it elsewhere

    async def _redeliver_loop(self) -> None:
        assert self.redeliver_after_s is not None
        while True:
            await asyncio.sleep(0.2)
            now = time.monotonic()
            for frame_id, (data, sent_at, ws) in list(self._unacked.items()):
                if ws.closed or now - sent_at > self.redeliver_after_s:
                    self._unacked.pop(frame_id, None)
                    self.redeliveries += 1
                    await self._push(data, uuid.uuid4().hex)

    def ping(self) -> str:
        """Send a SYSTEM ping frame (the client must echo it); returns its frame id."""
        frame_id = uuid.uuid4().hex
        frame = {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {"contentType": "application/json", "messageId": frame_id, "topic": "ping"},
            "data": json.dumps({"opaque": frame_id}),
        }

        async def send() -> None:
            for ws in self._sockets:
                if not ws.closed:
                    await ws.send_str(json.dumps(frame))

        asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)
        return frame_id

    def disconnect(self) -> None:
        """Announce a disconnect the way the gateway does before maintenance, then close."""
        frame = {
            "specVersion": "1.0",
            "type": "SYSTEM",
            "headers": {"messageId": uuid.uuid4().hex, "topic": "disconnect"},
            "data": json.dumps({"reason": "maintenance"}),
        }

        async def close() -> None:
            for ws in self._sockets:
                if not ws.closed:
                    await ws.send_str(json.dumps(frame))
                    await ws.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)

    def texts(self) -> list[str]:
        return [t for _, body in self.sent if (t := message_text(body)) is not None]

    async def apush(self, data: dict[str, Any]) -> str:
        """:meth:`push` for callers on another event loop, without blocking it."""
        frame_id = uuid.uuid4().hex
        await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._push(data, frame_id), self._loop)
        )
        return frame_id


def message_text(body: dict[str, Any]) -> str | None:
    """The text of a send body (webhook or OpenAPI, any message type), None if unknown."""
    if "text" in body:
        return str(body["text"]["content"])
    if "actionCard" in body:
        return str(body["actionCard"]["text"])
    if "markdown" in body:
        return str(body["markdown"]["text"])
    if "msgParam" in body:
        param = json.loads(body["msgParam"])
        return str(param.get("content") or param.get("text", ""))
    return None


def _callback_frame(data: dict[str, Any], frame_id: str) -> str:
    return json.dumps(
        {
            "specVersion": "1.0",
            "type": "CALLBACK",
            "headers": {
                "appId": "a1",
                "connectionId": "c1",
                "contentType": "application/json",
                "messageId": frame_id,
                "time": str(int(time.time() * 1000)),
                "topic": "/v1.0/im/bot/messages/get",
            },
            "data": json.dumps(data, ensure_ascii=False),
        },
        ensure_ascii=False,
    )


def robot_message(
    text: str,
    *,
    msg_id: str,
    base_url: str,
    conversation: str = "cidU1",
    group: bool = False,
    webhook_valid: bool = True,
    staff_id: str = "staff1",
) -> dict[str, Any]:
    """A robot message payload as DingTalk sends it."""
    expires = int(time.time() * 1000) + (3600_000 if webhook_valid else -1000)
    return {
        "msgId": msg_id,
        "conversationId": conversation,
        "conversationType": "2" if group else "1",
        "senderStaffId": staff_id,
        "senderId": "$:LWCP_v1:$abc",
        "senderNick": "张三",
        "text": {"content": (" " if group else "") + text},
        "msgtype": "text",
        "robotCode": ROBOT,
        "chatbotUserId": "bot1",
        "isInAtList": group,
        "sessionWebhook": f"{base_url}/session/{conversation}",
        "sessionWebhookExpiredTime": expires,
        "createAt": int(time.time() * 1000),
    }


def rich_text_message(parts: list[dict[str, str]], **kwargs: Any) -> dict[str, Any]:
    """A rich-text robot message: ``text`` items between pictures (``downloadCode``)."""
    data = robot_message("", **kwargs)
    del data["text"]
    data.update(msgtype="richText", content={"richText": parts})
    return data


def audio_message(recognition: str | None, **kwargs: Any) -> dict[str, Any]:
    """A voice message; DingTalk adds ``recognition`` when it could transcribe it."""
    data = robot_message("", **kwargs)
    del data["text"]
    content: dict[str, Any] = {"duration": 4000, "downloadCode": "audio-dl-1"}
    if recognition is not None:
        content["recognition"] = recognition
    data.update(msgtype="audio", content=content)
    return data


def signed_headers(
    secret: str = CLIENT_SECRET, *, timestamp_ms: int | None = None
) -> dict[str, str]:
    """Headers of an HTTP outgoing-mode request, signed the way DingTalk signs them."""
    ts = str(timestamp_ms if timestamp_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    return {
        "timestamp": ts,
        "sign": base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }
