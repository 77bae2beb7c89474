"""The web chat: a page at ``/`` and a WebSocket at ``/webchat``, correct across replicas.

The customer's socket may be connected to one replica while a reply (an
agent's relay, a timer) is produced on another, so every delivery is
published on the conversation's Redis channel; each replica forwards what
arrives for the sockets it holds. A delivery nobody is listening to is kept
in a capped list and flushed when the page reconnects (a reload loses nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Sequence
from importlib import resources
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bot.channels import Limits
from bot.escalation.texts import CUSTOMER
from bot.host import Host
from bot.models import Address, InboundMessage, MessageKind, Reply
from bot.outbound import Capabilities

log = logging.getLogger(__name__)
PENDING_MAX, PENDING_TTL_S = 100, 7 * 86400
# Hand-over announcements from the escalation desk are shown as notices, not
# bot bubbles. Reply has no kind field, so they are recognised by the desk's
# own templates (one place for the texts) with their placeholders as wildcards.
NOTICE_KEYS = ("asked", "joined", "resolved")


def _notice_pattern() -> re.Pattern[str]:
    parts = [
        re.sub(r"\\\{\w+\\\}", lambda _: ".+?", re.escape(template))
        for key in NOTICE_KEYS
        for template in CUSTOMER.get(key, {}).values()
    ]
    return re.compile("|".join(f"(?:{p})" for p in parts) or "(?!)")


NOTICE = _notice_pattern()


def frame_of(reply: Reply) -> str:
    """The JSON frame for a reply; ``kind`` is ``notice`` for hand-over announcements."""
    kind = "notice" if NOTICE.fullmatch(reply.text.strip()) else "bot"
    return json.dumps({"type": "reply", "kind": kind, **reply.to_dict()}, ensure_ascii=False)


def _address(cid: str) -> Address:
    return Address(platform="web", conversation_id=cid, user_id=cid, account="local")


class WebOutbound:
    """Publishes replies to the conversation's channel; keeps them if no page is listening."""

    platform = "web"
    capabilities = Capabilities(buttons=True, cards=True, proactive_send=True)

    def __init__(self, host: Host) -> None:
        self.host = host

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Publish each reply as a frame ``{"type": "reply", ...}``."""
        redis, keys = self.host.redis, self.host.keys
        pending = keys.web_pending(address.key)
        for reply in replies:
            frame = frame_of(reply)
            if not await redis.publish(keys.web_channel(address.key), frame):
                await redis.rpush(pending, frame)
                await redis.ltrim(pending, -PENDING_MAX, -1)
                await redis.expire(pending, PENDING_TTL_S)


class WebChannel:
    """The local web chat; always on."""

    name = "web"
    limits = Limits()

    def __init__(self, host: Host) -> None:
        self.host = host
        self.settings = host.settings
        self.outbound = WebOutbound(host)

    def routes(self) -> list[BaseRoute]:
        """The page and the socket."""
        return [Route("/", self.page), WebSocketRoute("/webchat", self.socket)]

    async def start(self) -> None:
        """Nothing to open: the host's Redis carries the frames."""

    async def stop(self) -> None:
        """Sockets close with the server."""

    async def page(self, request: Request) -> Response:
        """The chat page (no build step, no CDN)."""
        html = (
            resources.files("adapters.web")
            .joinpath("static/index.html")
            .read_text(encoding="utf-8")
        )
        return HTMLResponse(html)

    async def socket(self, websocket: WebSocket) -> None:
        """One page: frames in become turns; the conversation's deliveries go out."""
        cid = (websocket.query_params.get("cid") or "")[:64]
        if not cid.replace("-", "").isalnum():
            await websocket.close(code=1008)
            return
        await websocket.accept()
        address = _address(cid)
        pubsub = self.host.redis.pubsub()
        await pubsub.subscribe(self.host.keys.web_channel(address.key))
        forward = asyncio.create_task(self._forward(websocket, pubsub, address))
        try:
            await self._receive(websocket, address)
        except WebSocketDisconnect:
            pass
        finally:
            forward.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forward
            await pubsub.aclose()

    async def _forward(self, websocket: WebSocket, pubsub: Any, address: Address) -> None:
        redis, key = self.host.redis, self.host.keys.web_pending(address.key)
        while frame := cast(bytes | None, await redis.lpop(key)):  # kept while no page was open
            await websocket.send_text(frame.decode())
        async for item in pubsub.listen():
            if item.get("type") == "message":
                await websocket.send_text(item["data"].decode())

    async def _receive(self, websocket: WebSocket, address: Address) -> None:
        while True:
            raw = await websocket.receive_text()
            message = self._parse(raw, address)
            if message is None:
                await websocket.send_text(json.dumps({"type": "error", "error": "bad frame"}))
                continue
            self.host.submit(message, self.outbound)

    def _parse(self, raw: str, address: Address) -> InboundMessage | None:
        """A page frame ``{"type": "message"|"action", "id", "text", "payload"}`` as a message."""
        if len(raw) > self.settings.max_body_bytes:
            return None
        try:
            frame = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(frame, dict) or frame.get("type") not in ("message", "action"):
            return None
        text, payload = str(frame.get("text") or ""), frame.get("payload")
        action = frame["type"] == "action" and isinstance(payload, str)
        return InboundMessage(
            platform="web",
            message_id=str(frame.get("id") or uuid.uuid4().hex)[:64],
            address=address,
            text=text[: self.settings.max_text_chars * 2],
            kind=MessageKind.ACTION if action else MessageKind.TEXT,
            payload=payload if action else None,
        )
