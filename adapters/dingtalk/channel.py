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

from adapters.dingtalk import DingTalkSettings, inbound
from adapters.dingtalk.client import DingTalkOutbound
from adapters.dingtalk.stream import StreamConnection
from bot.channels import Limits
from bot.errors import BadRequest
from bot.host import Host
from bot.http.errors import read_body
from bot.settings import RateLimitRule
from bot.turn import Turn

log = logging.getLogger(__name__)
StaffHandler = Callable[[dict[str, Any]], Awaitable[None]]
# a group robot may post about twenty messages a minute
LIMITS = Limits(send_pace=RateLimitRule(per_minute=20, burst=5))


class DingTalkChannel:
    """1:1 chats and group @-mentions; messages in the staff group go to ``staff_handler``."""

    name = "dingtalk"
    limits = LIMITS

    def __init__(self, settings: DingTalkSettings, host: Host) -> None:
        if not (settings.client_id and settings.client_secret):
            raise ValueError("DingTalk needs DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET")
        if settings.mode not in ("stream", "http"):
            raise ValueError(f"DINGTALK_MODE must be stream or http, not {settings.mode!r}")
        self.settings = settings
        self.host = host
        self.client_id = settings.client_id
        self.secret = settings.client_secret.get_secret_value()
        self.outbound = DingTalkOutbound(
            base_url=settings.api_base_url,
            client_id=settings.client_id,
            client_secret=self.secret,
            redis=host.redis,
            keys=host.keys,
        )
        # set by the staff side (DingTalkStaff) when ESCALATION_CHANNEL names dingtalk:<group>
        self.staff_group: str | None = None
        self.staff_handler: StaffHandler | None = None
        self.stream: StreamConnection | None = None

    def routes(self) -> list[BaseRoute]:
        """HTTP outgoing mode's webhook (served in both modes; it verifies its signature)."""
        return [Route("/webhooks/dingtalk", self.handle, methods=["POST"])]

    async def start(self) -> None:
        """Open the stream in Stream mode."""
        if self.settings.mode == "stream":
            self.stream = StreamConnection(
                base_url=self.settings.api_base_url,
                client_id=self.client_id,
                client_secret=self.secret,
                on_message=self.settle,
            )
            await self.stream.start()

    async def stop(self) -> None:
        """Close the stream and the HTTP client."""
        if self.stream is not None:
            await self.stream.stop(grace_s=self.host.settings.ack_budget_s + 1)
        await self.outbound.close()

    async def handle(self, request: Request) -> Response:
        """HTTP outgoing mode: verify, then accept; the reply goes through the sessionWebhook."""
        body = await read_body(request, max_bytes=self.host.settings.max_body_bytes)
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
        if not self.host.admit():
            return True  # no ack: the gateway redelivers it, here or to another replica
        task = await self.accept(data)
        return task is not None and await self.host.settle([task], self.host.settings.ack_budget_s)

    async def accept(self, data: dict[str, Any]) -> asyncio.Task[Turn] | None:
        """Start a background turn (dedupe by msgId happens in the pipeline); None for staff."""
        message = inbound.to_model(data)
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
            self.host.spawn(self._staff(self.staff_handler, event), name="dingtalk-staff")
            return None
        return self.host.submit(message, self.outbound)

    async def _staff(self, handler: StaffHandler, event: dict[str, Any]) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("dingtalk staff event could not be handled")
