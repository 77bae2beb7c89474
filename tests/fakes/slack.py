"""A fake Slack: the Web API on 127.0.0.1 and requests signed the way Slack signs them.

``FakeSlack`` answers ``/api/{method}``: ``auth.test`` (bolt calls it once),
``chat.postMessage`` (returns a ``ts``), ``chat.update``, ``conversations.open``
and ``users.info``, recording every call in ``calls``. ``fail_next`` scripts
failures for chat.postMessage: an int is an HTTP status (429 comes with
``Retry-After: 0``), a string an ``{"ok": false, "error": ...}`` answer.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from tests.fakes import listen

BOT_TOKEN, SIGNING_SECRET, BOT_USER, TEAM = (
    "xoxb-test-token",
    "test-signing-secret",
    "UBOT",
    "T0001",
)
APP_TOKEN = "xapp-test-token"


@dataclass
class FakeSlack:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_next: list[int | str] = field(default_factory=list)
    base_url: str = ""
    runner: web.AppRunner | None = None
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    acks: list[dict[str, Any]] = field(default_factory=list)  # Socket Mode acks received
    peers: set[Any] = field(default_factory=set)  # client (host, port) of each accepted post
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    # called with (method, args) for each accepted chat.postMessage/chat.update
    listener: Callable[[str, dict[str, Any]], None] | None = None

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/link", self._socket)
        self.runner, root = await listen(app)
        self.base_url = f"{root}/api/"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "apps.connections.open":  # Socket Mode: the app-level token opens a socket
            if request.headers.get("Authorization") != f"Bearer {APP_TOKEN}":
                return web.json_response({"ok": False, "error": "invalid_auth"})
            return web.json_response(
                {"ok": True, "url": self.base_url.replace("http", "ws").replace("/api/", "/link")}
            )
        if request.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        raw = await request.read()
        if request.content_type == "application/json":
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if method == "chat.postMessage" and self.fail_next:
            failure = self.fail_next.pop(0)
            if isinstance(failure, int):
                return web.json_response(
                    {"ok": False}, status=failure, headers={"Retry-After": "0"}
                )
            return web.json_response({"ok": False, "error": failure})
        self.calls.append((method, args))
        if method == "chat.postMessage" and request.transport is not None:
            self.peers.add(request.transport.get_extra_info("peername"))
        if method == "auth.test":
            return web.json_response(
                {"ok": True, "user_id": BOT_USER, "bot_id": "B0001", "team_id": TEAM}
            )
        if method in ("chat.postMessage", "chat.update"):
            if self.listener is not None:
                self.listener(method, args)
            return web.json_response(
                {
                    "ok": True,
                    "channel": args.get("channel"),
                    "ts": f"1700000000.{next(self._ts):06d}",
                }
            )
        if method == "conversations.open":
            return web.json_response(
                {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))}}
            )
        if method == "users.info":
            return web.json_response(
                {"ok": True, "user": {"id": args.get("user"), "real_name": "Agent"}}
            )
        return web.json_response({"ok": True})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        async for msg in ws:
            if msg.type.name == "TEXT":
                self.acks.append(json.loads(msg.data))
        return ws

    async def push_event(self, body: bytes, *, envelope_id: str, retry: int = 0) -> None:
        """Deliver an Events API body over Socket Mode, as Slack wraps it in an envelope."""
        envelope = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": json.loads(body),
            "accepts_response_payload": False,
            "retry_attempt": retry,
            "retry_reason": "",
        }
        for ws in self.sockets:
            await ws.send_json(envelope)

    def posts(self) -> list[dict[str, Any]]:
        return [args for method, args in self.calls if method == "chat.postMessage"]


def signed_headers(
    body: bytes,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/json",
) -> dict[str, str]:
    """``X-Slack-Signature`` = v0= HMAC-SHA256 over ``v0:{ts}:{body}``."""
    ts = str(timestamp or int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": content_type,
    }


def event_body(event: dict[str, Any], *, event_id: str) -> bytes:
    """An Events API envelope as Slack sends it."""
    return json.dumps(
        {
            "token": "x",
            "team_id": TEAM,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    ).encode()


def dm(
    text: str, *, user: str = "U123", channel: str = "D123", ts: str = "1700000001.000100"
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": ts,
    }


def mention(
    text: str, *, user: str = "U123", channel: str = "C777", ts: str = "1700000002.000200"
) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "channel": channel,
        "user": user,
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
    }
