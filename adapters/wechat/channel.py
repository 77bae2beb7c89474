"""The WeChat channel: the webhook, the passive-reply window, and proactive sends.

WeChat waits 5 seconds for an answer and retries three times. If the
pipeline's replies are ready within the budget (4.5 s by default) the first
goes back as the passive reply; otherwise the webhook answers ``success`` at
once and the turn, still running, delivers through the customer-service API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from wechatpy.crypto import WeChatCrypto
from wechatpy.replies import create_reply

from adapters.wechat import WeChatSettings, inbound
from adapters.wechat.client import WeChatAPI
from adapters.wechat.menu import MenuMemory
from adapters.wechat.render import to_text
from adapters.wechat.window import LIMITS, SendWindow, Window
from bot.errors import DeliveryError
from bot.host import Host
from bot.http.errors import read_body
from bot.models import Address, Reply
from bot.outbound import Capabilities, SendAllowance
from bot.turn import Outcome, Turn

log = logging.getLogger(__name__)


class WeChatOutbound:
    """Customer-service API sends, inside the 48-hour window and its quota."""

    platform = "wechat"
    capabilities = Capabilities(passive_reply=True, proactive_send=True)

    def __init__(self, api: WeChatAPI, window: SendWindow, menus: MenuMemory) -> None:
        self.api = api
        self.window = window
        self.menus = menus

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send each reply and remember the last numbered menu; see :meth:`send`."""
        await self.send(address, replies)
        await self.menus.shown(address.account, address.user_id, replies)

    async def allowance(self, address: Address) -> SendAllowance:
        """The user's window and quota as they stand (:class:`bot.outbound.LimitedSends`)."""
        state = await self.window.state(address.account, address.user_id)
        return SendAllowance(closes_at=state.closes_at, remaining=state.remaining_quota)

    async def send(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send each reply; a closed window or used quota is a non-retryable DeliveryError."""
        for reply in replies:
            state = await self.window.state(address.account, address.user_id)
            if not state.open:
                code = "45047" if state.closes_at > time.time() else "45015"
                raise DeliveryError(
                    f"WeChat window closed or quota used (code {code})",
                    platform="wechat",
                    code=code,
                )
            await self.api.send_text(address.user_id, to_text(reply))
            await self.window.sent(address.account, address.user_id)


class PassiveSink:
    """The first reply ready within the budget is the HTTP answer; the rest go through the API."""

    def __init__(self, outbound: WeChatOutbound) -> None:
        self._outbound = outbound
        self.ready: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.expired = False

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Hand the first reply to the waiting webhook; send the others (or all, too late)."""
        if replies and not self.expired and not self.ready.done():
            # "2" next time picks from this menu
            await self._outbound.menus.shown(address.account, address.user_id, replies[:1])
            self.ready.set_result(replies[0])
            replies = replies[1:]
        if replies:
            await self._outbound.deliver(address, replies)


class WeChatChannel:
    """``/webhooks/wechat``: GET verification, POST messages (plaintext or AES safe mode)."""

    name = "wechat"
    limits = LIMITS

    def __init__(self, settings: WeChatSettings, host: Host) -> None:
        if not (settings.token and settings.app_id and settings.app_secret):
            raise ValueError("WeChat needs WECHAT_TOKEN, WECHAT_APP_ID and WECHAT_APP_SECRET")
        self.settings = settings
        self.host = host
        self.token = settings.token.get_secret_value()
        aes = settings.aes_key.get_secret_value() if settings.aes_key else None
        self.crypto = WeChatCrypto(self.token, aes, settings.app_id) if aes else None
        api = WeChatAPI(
            base_url=settings.api_base_url,
            app_id=settings.app_id,
            app_secret=settings.app_secret.get_secret_value(),
            redis=host.redis,
            keys=host.keys,
        )
        self.outbound = WeChatOutbound(
            api, SendWindow(host.redis, host.keys), MenuMemory(host.redis, host.keys)
        )

    def routes(self) -> list[BaseRoute]:
        """GET and POST on the fixed webhook path."""
        return [Route("/webhooks/wechat", self.handle, methods=["GET", "POST"])]

    async def start(self) -> None:
        """Nothing to open: the API is called over HTTP when there is something to send."""

    async def stop(self) -> None:
        """Close the API client."""
        await self.outbound.api.close()

    async def send_window(self, openid: str, *, account: str) -> Window:
        """Whether a customer-service message can reach ``openid`` now (for escalation).

        ``account`` is the official account's original id (``gh_...``, the
        ``ToUserName`` of the user's messages); the conversation address carries it.
        """
        return await self.outbound.window.state(account, openid)

    async def handle(self, request: Request) -> Response:
        """Verify, parse, run the turn, answer within WeChat's window."""
        query = dict(request.query_params)
        inbound.verify(self.token, query)
        inbound.check_fresh(query)
        if request.method == "GET":
            return PlainTextResponse(query.get("echostr", ""))
        body = await read_body(request, max_bytes=self.host.settings.max_body_bytes)
        inbound.refuse_dtd(body)
        if self.crypto is not None and query.get("encrypt_type") == "aes":
            xml = inbound.decrypt(self.crypto, body, query)
        else:
            xml = inbound.as_text(body)
        message, raw = inbound.parse(xml)
        if message.event == "unsubscribe":  # nothing can reach the user any more: just forget
            await self.host.contexts.delete(message.address.key)
            return PlainTextResponse("success")
        if inbound.is_notification(message):  # not the user's own doing: no reply, no window
            return PlainTextResponse("success")
        if not self.host.admit():
            return PlainTextResponse("busy, retry later", status_code=503)
        await self.outbound.window.inbound(message.address.account, message.user_id)
        message = await self.outbound.menus.resolve(message)  # "2" after a menu picks choice 2
        sink = PassiveSink(self.outbound)
        task = self.host.submit(message, sink)
        return await self._answer(sink, task, raw, query)

    async def _answer(
        self, sink: PassiveSink, task: asyncio.Task[Turn], raw: object, query: dict[str, str]
    ) -> Response:
        waiters: set[asyncio.Future[Any]] = {sink.ready, task}
        await asyncio.wait(
            waiters,
            timeout=self.settings.reply_budget_s,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if sink.ready.done():
            return self._passive(raw, to_text(sink.ready.result()), query)
        sink.expired = True
        if task.done() and task.result().outcome.retry_helps:
            outcome: Outcome = task.result().outcome
            return PlainTextResponse(
                "retry later", status_code=503 if outcome is Outcome.UNAVAILABLE else 500
            )
        # nothing to say, or the answer will come by API; WeChat will not ask again, so a
        # turn still running that fails is run again here
        self.host.acknowledged([task])
        return PlainTextResponse("success")

    def _passive(self, raw: object, text: str, query: dict[str, str]) -> Response:
        xml = create_reply(text, message=raw).render()
        if self.crypto is not None and query.get("encrypt_type") == "aes":
            xml = self.crypto.encrypt_message(xml, query.get("nonce", ""), query.get("timestamp"))
        return Response(xml, media_type="application/xml")
