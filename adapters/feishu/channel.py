"""The Feishu channel: Events v2 at ``/webhooks/feishu`` (http mode) or the long connection (ws).

HTTP mode: the body is bounded (413), decrypted when encrypted, and the
``url_verification`` challenge answered after its token check. Every other
request must carry a valid signature when an encrypt key is set (forged or
older than 5 minutes: 401) and the verification token (403). A message starts
its turn in the background and the answer waits for it up to ``ack_budget_s``
(Feishu waits 3 s), so a replica that dies mid-turn never answers and Feishu
redelivers the event, retries being deduplicated by ``event_id`` in the
pipeline. ws mode: the same events arrive through lark-oapi's client
(:mod:`adapters.feishu.longconn`), acknowledged once the turn is submitted.

Messages in the staff chat go to ``staff_handler``, card button callbacks
(``card.action.trigger``) to ``card_handler``, never to the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.feishu import FeishuSettings, inbound
from adapters.feishu.client import FeishuAPI, FeishuOutbound
from adapters.feishu.longconn import LongConnection
from bot.channels import Limits
from bot.errors import DeliveryError
from bot.host import Host
from bot.http.errors import read_body
from bot.settings import RateLimitRule
from bot.turn import Turn

log = logging.getLogger(__name__)
# Feishu allows a bot 5 messages a second to one user or one group
LIMITS = Limits(send_pace=RateLimitRule(per_minute=300, burst=5))
StaffHandler = Callable[[dict[str, Any]], Awaitable[None]]


class FeishuChannel:
    """p2p chats and group @-mentions, over HTTP or the long connection."""

    name = "feishu"
    limits = LIMITS

    def __init__(self, settings: FeishuSettings, host: Host) -> None:
        if not (settings.app_id and settings.app_secret):
            raise ValueError("Feishu needs FEISHU_APP_ID and FEISHU_APP_SECRET")
        if settings.mode not in ("http", "ws"):
            raise ValueError(f"FEISHU_MODE must be http or ws, not {settings.mode!r}")
        self.token = _secret(settings.verification_token)
        self.encrypt_key = _secret(settings.encrypt_key)
        if settings.mode == "http" and not (self.token or self.encrypt_key):
            # without either, anyone could post events to the webhook
            raise ValueError("Feishu http mode needs FEISHU_VERIFICATION_TOKEN or ENCRYPT_KEY")
        self.settings = settings
        self.host = host
        self.api = FeishuAPI(
            base_url=settings.api_base_url,
            app_id=settings.app_id,
            app_secret=settings.app_secret.get_secret_value(),
            redis=host.redis,
            keys=host.keys,
        )
        self.outbound = FeishuOutbound(self.api, host)
        # set by the staff side (FeishuStaff) when ESCALATION_CHANNEL names feishu:<chat_id>
        self.staff_chat: str | None = None
        self.staff_handler: StaffHandler | None = None
        self.card_handler: StaffHandler | None = None
        self.connection: LongConnection | None = None

    def routes(self) -> list[BaseRoute]:
        """The events (and card callback) URL; ws mode serves none: nothing to verify it with."""
        if self.settings.mode != "http":
            return []
        return [Route("/webhooks/feishu", self.handle, methods=["POST"])]

    async def start(self) -> None:
        """Open the long connection in ws mode (one per replica)."""
        if self.settings.mode == "ws":
            assert self.settings.app_id and self.settings.app_secret
            self.connection = LongConnection(
                app_id=self.settings.app_id,
                app_secret=self.settings.app_secret.get_secret_value(),
                domain=self.settings.api_base_url.rstrip("/"),
                on_event=self.accept,
            )
            await self.connection.start()

    async def stop(self) -> None:
        """Close the long connection and the API client."""
        if self.connection is not None:
            await self.connection.stop()
        await self.api.close()

    async def handle(self, request: Request) -> Response:
        """Verify, decrypt and dispatch one Events v2 request."""
        body = await read_body(request, max_bytes=self.host.settings.max_body_bytes)
        payload = inbound.decrypt(inbound.parse_json(body), self.encrypt_key)
        kind = inbound.event_type(payload)
        if kind == inbound.URL_VERIFICATION:  # not signed: the token is its proof
            inbound.check_token(payload, self.token)
            return JSONResponse({"challenge": str(payload.get("challenge", ""))})
        if self.encrypt_key and not inbound.signed(request.headers, body, self.encrypt_key):
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        inbound.check_token(payload, self.token)
        if not self.host.admit():
            return JSONResponse({"error": "busy, retry later"}, status_code=503)
        try:
            task = await self.submit(payload, kind)
        except DeliveryError:  # the bot's own identity could not be read: Feishu retries
            return JSONResponse({"error": "try again later"}, status_code=503)
        # Answer when the turn has ended (or the budget is spent): a replica that dies
        # first never answers, and Feishu redelivers the event to another one.
        if task is not None and await self.host.settle([task], self.host.settings.ack_budget_s):
            return JSONResponse({"error": "try again later"}, status_code=503)
        return JSONResponse({})

    async def accept(self, payload: dict[str, Any]) -> bool:
        """An event from the long connection; True when Feishu should deliver it again.

        It is acknowledged once its turn has started, not ended: the SDK runs this
        handler on its own thread and acks when it returns, and Feishu wants that
        within 3 s. A replica dying mid-turn there loses the message; a turn that
        fails is run again here (:meth:`Host.acknowledged`).
        """
        if not self.host.admit():
            return True
        task = await self.submit(payload, inbound.event_type(payload))
        if task is not None:
            self.host.acknowledged([task])
        return False

    async def submit(self, payload: dict[str, Any], kind: str) -> asyncio.Task[Turn] | None:
        """Start what ``payload`` asks for: a turn (returned), or staff work in the background."""
        if kind == inbound.CARD_ACTION:
            self._staff(self.card_handler, payload, "card")
            return None
        if kind != inbound.MESSAGE_RECEIVE:
            return None  # other subscribed events: acknowledged, nothing to do
        chat = inbound.message_of(payload).get("chat_id")
        if self.staff_chat and chat == self.staff_chat:
            self._staff(self.staff_handler, payload, "message")
            return None
        message = inbound.to_model(payload, await self._bot_id(payload))
        if message is None:
            return None
        return self.host.submit(message, self.outbound)

    async def _bot_id(self, payload: dict[str, Any]) -> str:
        """The bot's open_id, needed only to tell a group message @-mentions it."""
        p2p = inbound.message_of(payload).get("chat_type") == "p2p"
        return "" if p2p else await self.api.bot_open_id()

    def _staff(self, handler: StaffHandler | None, payload: dict[str, Any], what: str) -> None:
        if handler is None:
            log.info("feishu staff %s ignored: no escalation handler", what)
            return
        self.host.spawn(self._run_staff(handler, payload), name=f"feishu-staff-{what}")

    async def _run_staff(self, handler: StaffHandler, payload: dict[str, Any]) -> None:
        try:
            await handler(payload)
        except Exception:
            log.exception("feishu staff event could not be handled")


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
