"""The Slack channel: slack-bolt's AsyncApp behind ``/webhooks/slack/events``.

Bolt verifies the signing secret (5-minute replay window) and answers
``url_verification``. Listeners start the turn in the background and the
HTTP answer waits for it, up to ``ack_budget_s`` (Slack allows 3 s): a
replica that dies mid-turn never acks, so Slack redelivers the event and
another replica handles it; retries are deduplicated by ``event_id``.
Direct messages are answered in the DM (in its thread when sent in one),
``app_mention`` in the thread; a bare mention gets a short help. The bot's own
messages, edits and joins are ignored. Messages in the staff channel go to
``staff_handler``, not the pipeline. Events and interactions without a
listener, and ``ssl_check``, are answered 200: bolt's 404 would make Slack
redeliver them.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from adapters.slack import SlackSettings
from adapters.slack.render import REPLY_BUTTON, blocks
from adapters.slack.webclient import PooledWebClient
from bot.channels import Limits
from bot.errors import BadRequest, DeliveryError
from bot.host import Host
from bot.http.errors import read_body
from bot.models import Address, InboundMessage, MessageKind, Reply
from bot.outbound import Capabilities
from bot.settings import RateLimitRule
from bot.texts import text
from bot.turn import Turn

log = logging.getLogger(__name__)
# chat.postMessage allows about one message a second per channel
LIMITS = Limits(send_pace=RateLimitRule(per_minute=60, burst=3))
_MENTION = re.compile(r"<@[A-Z0-9]+>\s*")
StaffHandler = Callable[[dict[str, Any]], Awaitable[None]]
# The turns a webhook request started. Bolt calls the listeners inside the request's
# context (process_before_response), so ``handle`` can wait for them before acking.
_REQUEST_TURNS: contextvars.ContextVar[list[asyncio.Task[Turn]]] = contextvars.ContextVar(
    "slack_request_turns"
)


class SlackOutbound:
    """``chat.postMessage`` with Slack's own retry handlers for 429 and 5xx."""

    platform = "slack"
    capabilities = Capabilities(threads=True, buttons=True, cards=True, proactive_send=True)

    def __init__(self, client: AsyncWebClient, host: Host) -> None:
        self.client = client
        self.host = host

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Post each reply in the conversation (in its thread when it has one)."""
        channel = address.extra.get("channel") or address.conversation_id
        for reply in replies:
            await self.host.pace(channel)
            try:
                await self.client.chat_postMessage(
                    channel=channel,
                    text=reply.text,
                    blocks=blocks(reply),
                    thread_ts=address.thread_id,
                )
            except Exception as exc:
                raise DeliveryError(
                    f"Slack chat.postMessage failed: {exc}",
                    platform="slack",
                    retryable=True,
                    code=type(exc).__name__,
                ) from None


class SlackChannel:
    """HTTP Events API (and Socket Mode when ``SLACK_APP_TOKEN`` is set)."""

    name = "slack"
    limits = LIMITS

    def __init__(self, settings: SlackSettings, host: Host) -> None:
        if not (settings.bot_token and settings.signing_secret):
            raise ValueError("Slack needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET")
        self.settings = settings
        self.host = host
        self.client = PooledWebClient(
            token=settings.bot_token.get_secret_value(),
            base_url=settings.api_base_url,
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncServerErrorRetryHandler(max_retry_count=3),
            ],
        )
        self.app = AsyncApp(
            signing_secret=settings.signing_secret.get_secret_value(),
            client=self.client,
            process_before_response=True,  # listeners only start turns; see ``handle``
            raise_error_for_unhandled_request=True,  # answered by ``_on_error``, not with 404
        )
        self.handler = AsyncSlackRequestHandler(self.app)
        host.add_service("slack-http", start=_nothing, stop=self.client.close)
        self.verifier = SignatureVerifier(settings.signing_secret.get_secret_value())
        self.outbound = SlackOutbound(self.client, host)
        # set by the staff side (SlackStaff) when ESCALATION_CHANNEL names slack:<channel id>
        self.staff_channel: str | None = None
        self.staff_handler: StaffHandler | None = None
        self._socket_mode: Any = None
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.action(re.compile(f"^{REPLY_BUTTON}_\\d+$"))(self._on_button)
        self.app.error(self._on_error)

    def routes(self) -> list[BaseRoute]:
        """Events and interactivity share one path."""
        return [Route("/webhooks/slack/events", self.handle, methods=["POST"])]

    async def start(self) -> None:
        """Open Socket Mode when an app token is set."""
        if self.settings.app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket_mode = AsyncSocketModeHandler(
                self.app, self.settings.app_token.get_secret_value()
            )
            await self._socket_mode.connect_async()

    async def stop(self) -> None:
        """Close Socket Mode."""
        if self._socket_mode is not None:
            await self._socket_mode.close_async()

    async def handle(self, request: Request) -> Response:
        """Bound the body, verify the signature, refuse malformed bodies, then let bolt dispatch."""
        body = await read_body(request, max_bytes=self.host.settings.max_body_bytes)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("Slack request body is not UTF-8") from None
        if not self.verifier.is_valid_request(text, dict(request.headers)):
            return Response("invalid signature", status_code=401)  # forged, or outside 5 minutes
        _check_parsable(body, request.headers.get("content-type", ""))
        if not self.host.admit():
            return Response("busy, retry later", status_code=503)  # Slack retries
        request._body = body  # bolt reads request.body(); starlette serves it from this cache
        turns: list[asyncio.Task[Turn]] = []
        scope = _REQUEST_TURNS.set(turns)
        try:
            response = await self.handler.handle(request)
        except Exception:
            log.exception("slack request could not be handled")
            response = Response(status_code=500)
        finally:
            _REQUEST_TURNS.reset(scope)
        # Ack only when the turn has ended (or the budget is spent): if this replica dies
        # first, Slack gets no 200 and redelivers the event to another replica.
        retry = await self.host.settle(turns, self.host.settings.ack_budget_s)
        if response.status_code >= 500 or retry:
            # bolt answers 500 when e.g. auth.test is unreachable: ask Slack to retry later
            return Response("try again later", status_code=503)
        return response

    # -- listeners -------------------------------------------------------------

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id"):
            return  # edits, deletes, joins and bot messages are not customer messages
        if event.get("channel") == self.staff_channel:
            await self._staff({"kind": "message", "event": event})
            return
        if event.get("channel_type") != "im":
            return  # channel messages are answered only when the bot is mentioned
        address = Address(
            platform="slack",
            conversation_id=event["channel"],  # one conversation per DM, threads included
            user_id=event.get("user", ""),
            account=body.get("team_id", ""),
            thread_id=event.get("thread_ts"),  # asked in a thread: answered there
            extra={"channel": event["channel"]},
        )
        self._turn(
            address, body.get("event_id") or event.get("client_msg_id") or event["ts"], event
        )

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("channel") == self.staff_channel:
            await self._staff({"kind": "mention", "event": event})
            return
        root = event.get("thread_ts") or event["ts"]
        address = Address(
            platform="slack",
            conversation_id=f"{event['channel']}:{root}",
            user_id=event.get("user", ""),
            account=body.get("team_id", ""),
            thread_id=root,
            extra={"channel": event["channel"]},
        )
        message_id = str(body.get("event_id") or event["ts"])
        if not _MENTION.sub("", event.get("text", "")).strip():
            await self._help(address, message_id)
            return
        self._turn(address, message_id, event)

    async def _help(self, address: Address, message_id: str) -> None:
        """A bare mention has nothing to answer: say how to ask, once per event.

        It is in the thread's language when the thread has one; otherwise in English,
        Slack's default (a bare mention has no words to tell the language by).
        """
        deduper, conversation = self.host.deduper, address.key
        if not (await deduper.claim(conversation, message_id)).ours:
            return  # Slack's retry of a mention already answered
        try:
            ctx = await self.host.contexts.load(conversation)
            lang = ctx.lang if ctx.history else "en"
            await self.outbound.deliver(address, [Reply(text("mention_help", lang))])
        except BaseException:
            await deduper.release(conversation, message_id)
            raise
        finally:
            deduper.finished(conversation, message_id)
        await deduper.done(conversation, message_id)

    async def _on_error(self, error: Exception) -> BoltResponse | None:
        """Acknowledge what no listener handles; log listener failures (bolt answers 500)."""
        if isinstance(error, BoltUnhandledRequestError):
            # Reactions, app_home_opened, other apps' buttons...: nothing to do, but a 404
            # makes Slack redeliver the event, again and again, and Socket Mode never acks it.
            return BoltResponse(status=200, body="")
        log.error("slack listener failed", exc_info=error)
        return None

    async def _on_button(self, ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        action = body["actions"][0]
        channel = body.get("channel", {}).get("id", "")
        container = body.get("container", {})
        thread = container.get("thread_ts")
        conversation = f"{channel}:{thread}" if thread else channel
        address = Address(
            platform="slack",
            conversation_id=conversation,
            user_id=body["user"]["id"],
            account=body.get("team", {}).get("id", ""),
            thread_id=thread,
            extra={"channel": channel},
        )
        message = InboundMessage(
            platform="slack",
            message_id=f"{body.get('trigger_id', '')}:{action['action_id']}",
            address=address,
            text=action.get("text", {}).get("text", ""),
            kind=MessageKind.ACTION,
            payload=action.get("value"),
            raw=body,
        )
        self._start(message)

    def _turn(self, address: Address, message_id: str, event: dict[str, Any]) -> None:
        message = InboundMessage(
            platform="slack",
            message_id=str(message_id),
            address=address,
            text=_MENTION.sub("", event.get("text", "")).strip(),
            user_name=event.get("user", ""),
            raw=event,
        )
        self._start(message)

    def _start(self, message: InboundMessage) -> None:
        """Run the turn in the background; an HTTP request waits for it before acking."""
        task = self.host.submit(message, self.outbound)
        turns = _REQUEST_TURNS.get(None)
        if turns is not None:  # Socket Mode: bolt acks the envelope itself
            turns.append(task)

    async def _staff(self, item: dict[str, Any]) -> None:
        if self.staff_handler is None:
            log.info("staff channel message ignored: no escalation handler")
            return
        await self.staff_handler(item)


def _check_parsable(body: bytes, content_type: str) -> None:
    """Bolt raises on malformed bodies; refuse them here with a 400 instead.

    Slack sends a JSON object with a ``type`` (events), or a form whose
    ``payload`` is one (interactivity), or a slash-command form.
    """
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(body.decode("utf-8"), strict_parsing=False)
            if "payload" not in form:
                if "command" in form or form.get("ssl_check") == ["1"]:
                    return  # a slash command, or Slack checking the certificate (bolt: 200)
                raise ValueError("form without payload")
            parsed = json.loads(form["payload"][0])
        else:
            parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("malformed Slack request body") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
        raise BadRequest("Slack request body without a type")


async def _nothing() -> None:
    """The HTTP session opens on the first API call; only its close needs a hook."""
