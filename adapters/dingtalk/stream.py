"""DingTalk Stream mode: the gateway protocol on ``websockets``, inside the bot's event loop.

The frames and acks are those of dingtalk-stream (``/v1.0/gateway/connections/open``,
then a websocket; ``SYSTEM`` pings are echoed, ``CALLBACK`` frames are acked
with ``{"code": 200, "headers": {"messageId"}, "data": "{\\"response\\": ...}"}``).
The SDK's own client is not used to run the connection because it makes
blocking ``requests`` calls on the event loop, reads its endpoint once at
import, and swallows cancellation to reconnect forever; this one opens the
connection with async httpx and stops cleanly. A robot message is acked when
``on_message`` has handled it (it returns whether the gateway should redeliver
instead), so a process that dies mid-message leaves the frame unacked and the
gateway redelivers it; the socket keeps reading meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import websockets

from bot.errors import BadRequest

log = logging.getLogger(__name__)
TOPIC = "/v1.0/im/bot/messages/get"
# Handles one robot message; returns True when the gateway should redeliver it (no ack).
OnMessage = Callable[[dict[str, Any]], Awaitable[bool]]


class StreamConnection:
    """Keeps one gateway connection open and hands robot messages to ``on_message``."""

    def __init__(
        self, *, base_url: str, client_id: str, client_secret: str, on_message: OnMessage
    ) -> None:
        self._base = base_url.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None
        self._socket: Any = None
        self._handling: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Connect in the background (reconnecting with backoff)."""
        self._task = asyncio.create_task(self._run(), name="dingtalk-stream")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Ack what is being handled (up to ``grace_s``), then close and stop reconnecting.

        What is still unacked after the grace is left to the gateway's redelivery.
        """
        if self._handling:
            await asyncio.wait(list(self._handling), timeout=grace_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._handling):
            task.cancel()
        if self._socket is not None:
            await self._socket.close()

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._session()
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "dingtalk stream disconnected; reconnecting",
                    extra={"error": type(exc).__name__},
                )
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _open(self) -> str:
        body = {
            "clientId": self._client_id,
            "clientSecret": self._secret,
            "ua": "csbot/0.1",
            "subscriptions": [{"type": "CALLBACK", "topic": TOPIC}],
        }
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(f"{self._base}/v1.0/gateway/connections/open", json=body)
        response.raise_for_status()
        data = response.json()
        return f"{data['endpoint']}?ticket={urllib.parse.quote_plus(data['ticket'])}"

    async def _session(self) -> None:
        async with websockets.connect(await self._open(), max_size=2**20) as socket:
            self._socket = socket
            self.connected.set()
            async for raw in socket:
                await self._frame(socket, raw)

    async def _frame(self, socket: Any, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            headers = frame.get("headers", {})
        except (ValueError, AttributeError):
            log.warning("dingtalk stream: unreadable frame ignored")
            return
        ack: dict[str, Any] = {
            "code": 200,
            "message": "OK",
            "headers": {
                "messageId": headers.get("messageId", ""),
                "contentType": "application/json",
            },
        }
        if frame.get("type") == "SYSTEM":
            if headers.get("topic") == "disconnect":
                await socket.close()
                return
            ack["data"] = frame.get("data", "")
        elif frame.get("type") == "CALLBACK" and headers.get("topic") == TOPIC:
            ack["data"] = json.dumps({"response": None})
            task = asyncio.create_task(self._handle(socket, frame, ack), name="dingtalk-frame")
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
            return
        else:
            ack["data"] = json.dumps({"response": None})
        await socket.send(json.dumps(ack))

    async def _handle(self, socket: Any, frame: dict[str, Any], ack: dict[str, Any]) -> None:
        """Handle one robot message, then ack it unless it should come again."""
        try:
            redeliver = await self._on_message(json.loads(frame.get("data") or "{}"))
        except (ValueError, BadRequest) as exc:
            log.warning("dingtalk stream: malformed robot message", extra={"error": str(exc)})
            redeliver = False  # a malformed message will not improve: ack it
        except Exception:
            log.exception("dingtalk message could not be handled")
            redeliver = False  # never a redelivery loop on our own bug
        if redeliver:
            return
        with contextlib.suppress(websockets.ConnectionClosed):
            await socket.send(json.dumps(ack))
