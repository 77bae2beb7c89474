"""The WeCom customer-service channel: the callback, the message sync, replies and the welcome.

WeCom waits 5 seconds for a callback's answer. The callback only says that a
kf account has news, so the webhook starts a drain (:mod:`adapters.wecom.sync`)
and waits for it up to ``WECOM_REPLY_BUDGET_S``: a drain that failed answers
503, so WeCom calls again and the page is pulled again; one still running goes
on in the background and the webhook answers ``success``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from wechatpy.enterprise.crypto import WeChatCrypto

from adapters.wecom import WeComSettings, inbound
from adapters.wecom.client import WeComAPI
from adapters.wecom.render import to_text
from adapters.wecom.sync import MessageSync
from adapters.wecom.window import LIMITS, SendWindow, Window
from bot.errors import DeliveryError
from bot.host import Host
from bot.http.errors import read_body
from bot.models import Address, Reply
from bot.outbound import Capabilities, SendAllowance
from bot.turn import Outcome, ReplySink, Turn

log = logging.getLogger(__name__)

# How a turn may end for its message to count as handled (the cursor may pass it).
# IN_FLIGHT is not among them: another replica's turn may still die.
HANDLED = frozenset({Outcome.REPLIED, Outcome.DUPLICATE, Outcome.RATE_LIMITED, Outcome.REJECTED})


class WeComOutbound:
    """``kf/send_msg``, inside the 48-hour window and its quota."""

    platform = "wecom"
    capabilities = Capabilities(proactive_send=True)

    def __init__(self, api: WeComAPI, window: SendWindow, host: Host) -> None:
        self.api = api
        self.window = window
        self.host = host

    async def allowance(self, address: Address) -> SendAllowance:
        """The customer's window and quota as they stand (:class:`bot.outbound.LimitedSends`)."""
        state = await self.window.state(address.key)
        return SendAllowance(closes_at=state.closes_at, remaining=state.remaining)

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send each reply; a closed window or a used quota is a non-retryable DeliveryError."""
        for reply in replies:
            refused = await self.window.take(address.key)
            if refused is not None:
                raise DeliveryError(
                    f"WeCom window closed or quota used (code {refused})",
                    platform="wecom",
                    code=refused,
                )
            await self.host.pace(address.key)
            await self.api.send_text(address.account, address.user_id, to_text(reply))


class WelcomeSink:
    """The replies to ``enter_session`` go out as one message with its single-use code."""

    def __init__(self, api: WeComAPI, code: str) -> None:
        self._api = api
        self._code = code

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """One ``send_msg_on_event`` (the code works once, for 20 seconds)."""
        text = "\n\n".join(t for t in (to_text(r) for r in replies) if t)
        if text:
            await self._api.send_on_event(self._code, text)


class Tracked:
    """A message's sink that remembers whether a send failed for good (the cursor moves on)."""

    def __init__(self, sink: ReplySink) -> None:
        self._sink = sink
        self.final = False

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Deliver through the wrapped sink; a non-retryable failure is noted, then raised."""
        try:
            await self._sink.deliver(address, replies)
        except DeliveryError as exc:
            self.final = not exc.retryable
            raise


class WeComChannel:
    """``/webhooks/wecom``: GET URL verification, POST encrypted events."""

    name = "wecom"
    limits = LIMITS

    def __init__(self, settings: WeComSettings, host: Host) -> None:
        if not (settings.corp_id and settings.secret and settings.token and settings.aes_key):
            raise ValueError(
                "WeCom needs WECOM_CORP_ID, WECOM_SECRET, WECOM_TOKEN and WECOM_AES_KEY"
            )
        self.settings = settings
        self.host = host
        self.crypto = WeChatCrypto(
            settings.token.get_secret_value(),
            settings.aes_key.get_secret_value(),
            settings.corp_id,
        )
        self.api = WeComAPI(
            base_url=settings.api_base_url,
            corp_id=settings.corp_id,
            secret=settings.secret.get_secret_value(),
            redis=host.redis,
            keys=host.keys,
        )
        self.window = SendWindow(host.redis, host.keys)
        self.outbound = WeComOutbound(self.api, self.window, host)
        self.sync = MessageSync(
            host.redis,
            host.keys,
            corp_id=settings.corp_id,
            fetch=self._fetch,
            handle=self._handle_page,
            lock_ttl_s=settings.sync_lock_ttl_s,
            max_attempts=settings.sync_max_attempts,
        )

    def routes(self) -> list[BaseRoute]:
        """GET and POST on the fixed webhook path."""
        return [Route("/webhooks/wecom", self.handle, methods=["GET", "POST"])]

    async def start(self) -> None:
        """Nothing to open: messages are pulled when a callback says so."""

    async def stop(self) -> None:
        """Close the API client."""
        await self.api.close()

    async def send_window(self, address: Address) -> Window:
        """Whether a message can reach the customer at ``address`` now."""
        return await self.window.state(address.key)

    # -- the callback ---------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Verify and decrypt; on ``kf_msg_or_event``, drain that kf account's messages."""
        query = dict(request.query_params)
        inbound.check_fresh(query)
        if request.method == "GET":
            return PlainTextResponse(inbound.echo(self.crypto, query))
        body = await read_body(request, max_bytes=self.host.settings.max_body_bytes)
        event = inbound.parse_event(inbound.decrypt(self.crypto, body, query))
        if event.event != inbound.KF_EVENT:
            return PlainTextResponse("success")  # other app events are not this plug-in's
        if not self.host.admit():
            return PlainTextResponse("busy, retry later", status_code=503)
        drain = self.host.spawn(self.sync.notify(event.open_kfid, event.token), name="wecom-sync")
        done, _ = await asyncio.wait({drain}, timeout=self.settings.reply_budget_s)
        if done and (drain.cancelled() or drain.exception() is not None or not drain.result()):
            return PlainTextResponse("retry later", status_code=503)
        return PlainTextResponse("success")

    async def _fetch(self, open_kfid: str, cursor: str, token: str) -> Any:
        return await self.api.sync_msg(open_kfid, cursor, token, self.settings.sync_page_size)

    async def _handle_page(self, items: list[dict[str, Any]]) -> bool:
        """Submit the page's customer texts and welcomes; True once every turn is handled."""
        turns: list[tuple[asyncio.Task[Turn], Tracked]] = []
        for item in items:
            if (who := inbound.customer(item)) is not None:
                kfid, user, sent = who
                await self.window.inbound(f"wecom:{kfid}:{user}", sent, str(item.get("msgid")))
            sink: ReplySink | None = None
            if (message := inbound.to_model(item)) is not None:
                sink = self.outbound
            elif (entered := inbound.welcome(item)) is not None:
                message, sink = entered[0], WelcomeSink(self.api, entered[1])
            if message is not None and sink is not None:
                tracked = Tracked(sink)
                turns.append((self.host.submit(message, tracked), tracked))
        if not turns:
            return True
        await asyncio.wait([t for t, _ in turns])  # the lock is renewed; the cursor waits
        return all(_handled(task, tracked) for task, tracked in turns)


def _handled(task: asyncio.Task[Turn], tracked: Tracked) -> bool:
    """Whether the cursor may pass this message: its turn ended, or its send failed for good."""
    if task.cancelled():
        return False
    outcome = task.result().outcome
    return outcome in HANDLED or (outcome is Outcome.FAILED and tracked.final)
