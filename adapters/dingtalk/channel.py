"""The DingTalk channel: Stream mode by default, or HTTP outgoing mode at ``/webhooks/dingtalk``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.dingtalk import inbound
from adapters.dingtalk.client import DingTalkOutbound
from adapters.dingtalk.stream import StreamConnection
from bot.errors import BadRequest
from bot.escalation import staff_target
from bot.http.errors import read_body
from bot.runtime import Runtime
from bot.settings import Settings
from bot.turn import Turn

log = logging.getLogger(__name__)
StaffHandler = Callable[[dict[str, Any]], Awaitable[None]]


class DingTalkChannel:
    """1:1 chats and group @-mentions; messages in the staff group go to ``staff_handler``."""

    name = "dingtalk"

    def __init__(self, settings: Settings) -> None:
        assert settings.dingtalk_client_id and settings.dingtalk_client_secret
        if settings.dingtalk_mode not in ("stream", "http"):
            raise ValueError(
                f"DINGTALK_MODE must be stream or http, not {settings.dingtalk_mode!r}"
            )
        self.settings = settings
        self.secret = settings.dingtalk_client_secret.get_secret_value()
        self.outbound = DingTalkOutbound(
            base_url=settings.dingtalk_api_base_url,
            client_id=settings.dingtalk_client_id,
            client_secret=self.secret,
        )
        self.staff_group = staff_target(settings.escalation_channel, "dingtalk")
        self.staff_handler: StaffHandler | None = None
        self.stream: StreamConnection | None = None
        self.runtime: Runtime | None = None

    def routes(self) -> list[BaseRoute]:
        """HTTP outgoing mode's webhook (served in both modes; it verifies its signature)."""
        return [Route("/webhooks/dingtalk", self.handle, methods=["POST"])]

    async def start(self, runtime: Runtime) -> None:
        """Share the token through Redis; open the stream in Stream mode."""
        self.runtime = runtime
        self.outbound.use_redis(runtime.redis, self.settings.redis_prefix)
        if self.settings.dingtalk_mode == "stream":
            assert self.settings.dingtalk_client_id
            self.stream = StreamConnection(
                base_url=self.settings.dingtalk_api_base_url,
                client_id=self.settings.dingtalk_client_id,
                client_secret=self.secret,
                on_message=self.settle,
            )
            await self.stream.start()

    async def stop(self) -> None:
        """Close the stream and the HTTP client."""
        if self.stream is not None:
            await self.stream.stop(grace_s=self.settings.ack_budget_s + 1)
        await self.outbound.close()

    async def handle(self, request: Request) -> Response:
        """HTTP outgoing mode: verify, then accept; the reply goes through the sessionWebhook."""
        body = await read_body(request, max_bytes=self.settings.max_body_bytes)
        inbound.verify(dict(request.headers), self.secret)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BadRequest("malformed DingTalk JSON") from None
        if await self.settle(data):
            return JSONResponse({"errmsg": "try again later"}, status_code=503)
        return JSONResponse({"msgtype": "empty"})

    async def settle(self, data: dict[str, Any]) -> bool:
        """Start the turn and wait for it (up to ``ack_budget_s``); True if DingTalk must redeliver.

        The stream acks a frame only after this, so a replica dying mid-turn leaves
        it unacked and the gateway redelivers it to another connection.
        """
        assert self.runtime is not None
        if not self.runtime.admit("dingtalk"):
            return True  # no ack: the gateway redelivers it, here or to another replica
        task = await self.accept(data)
        return task is not None and await self.runtime.settle([task], self.settings.ack_budget_s)

    async def accept(self, data: dict[str, Any]) -> asyncio.Task[Turn] | None:
        """Start a background turn (dedupe by msgId happens in the pipeline); None for staff."""
        message = inbound.to_model(data)
        assert self.runtime is not None
        if self.staff_group and message.address.conversation_id == self.staff_group:
            # Agents' commands and button taps (ActionCard links send text) are not customer
            # messages: they go to the escalation desk, never into the pipeline.
            if self.staff_handler is None:
                log.info("dingtalk staff group message ignored: no escalation handler")
                return None
            event = {
                "kind": "message",
                "user_id": message.address.user_id,
                "user_name": message.user_name,
                "text": message.text,
                "conversation_id": message.address.conversation_id,
                "message_id": message.message_id,
                "message": message,
                "data": data,
            }
            self.runtime.spawn(self._staff(self.staff_handler, event), name="dingtalk-staff")
            return None
        return self.runtime.spawn(
            self.runtime.pipeline.handle(message, self.outbound), name="dingtalk-turn"
        )

    async def _staff(self, handler: StaffHandler, event: dict[str, Any]) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("dingtalk staff event could not be handled")
