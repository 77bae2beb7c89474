"""The Feishu open API over httpx: the tenant token, sending, replying, updating cards.

``tenant_access_token`` comes from ``auth/v3/tenant_access_token/internal`` and is
shared by every replica (:class:`~bot.stores.tokens.SharedToken`). A token the
API refuses (99991663/99991664/99991668, or HTTP 401) is refreshed once and the
call retried. 5xx and 429 are retried by the transport; each send carries a
``uuid`` so a retried send is not delivered twice (Feishu dedupes it for an hour).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
import redis.asyncio as aioredis

from adapters.console import render_text
from bot.errors import DeliveryError
from bot.host import Host
from bot.http.retry import RetryTransport
from bot.keys import Keys
from bot.models import Address, Reply
from bot.outbound import Capabilities
from bot.stores.tokens import SharedToken

log = logging.getLogger(__name__)
TOKEN_ERRORS = frozenset({99991663, 99991664, 99991668})


class FeishuAPI:
    """The calls the channel and its staff side make."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        redis: aioredis.Redis,
        keys: Keys,
    ) -> None:
        self._app_id = app_id
        self._secret = app_secret
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=5.0, transport=RetryTransport(platform="feishu")
        )
        self.token = SharedToken(
            redis, key=keys.token("feishu", app_id), fetch=self._fetch_token, platform="feishu"
        )
        self._bot_open_id = ""
        self._names: dict[str, str] = {}

    async def close(self) -> None:
        """Close connections."""
        await self._http.aclose()

    async def send(self, chat_id: str, msg_type: str, content: dict[str, Any]) -> str:
        """A new message in ``chat_id``; its message_id."""
        body = {
            "receive_id": chat_id,
            "msg_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        data = await self.call(
            "POST", "/open-apis/im/v1/messages", body, params={"receive_id_type": "chat_id"}
        )
        return str(data.get("message_id") or "")

    async def reply(
        self, message_id: str, msg_type: str, content: dict[str, Any], *, in_thread: bool
    ) -> str:
        """A reply to ``message_id`` (in its thread when ``in_thread``); its message_id."""
        body = {
            "msg_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
            "reply_in_thread": in_thread,
        }
        data = await self.call("POST", f"/open-apis/im/v1/messages/{message_id}/reply", body)
        return str(data.get("message_id") or "")

    async def update_card(self, message_id: str, card: dict[str, Any]) -> None:
        """Replace an interactive card the bot sent (``update_multi`` cards: for everyone)."""
        await self.call(
            "PATCH",
            f"/open-apis/im/v1/messages/{message_id}",
            {"content": json.dumps(card, ensure_ascii=False)},
        )

    async def bot_open_id(self) -> str:
        """The bot's own open_id (how a group message mentions it); asked once per process."""
        if not self._bot_open_id:
            data = await self.call("GET", "/open-apis/bot/v3/info", None, top_level=True)
            bot = data.get("bot") if isinstance(data.get("bot"), dict) else {}
            self._bot_open_id = str((bot or {}).get("open_id") or "")
        return self._bot_open_id

    async def user_name(self, open_id: str) -> str:
        """A staff member's name (contact API); their open_id when it cannot be read."""
        if open_id not in self._names:
            try:
                data = await self.call(
                    "GET",
                    f"/open-apis/contact/v3/users/{open_id}",
                    None,
                    params={"user_id_type": "open_id"},
                )
                self._names[open_id] = str((data.get("user") or {}).get("name") or open_id)
            except DeliveryError:  # no contact permission: the id is all there is
                return open_id
        return self._names[open_id]

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        params: dict[str, str] | None = None,
        top_level: bool = False,
    ) -> dict[str, Any]:
        """One API call with the tenant token; its ``data`` (the whole answer if ``top_level``)."""
        if body is not None and method == "POST" and "msg_type" in body:
            body = {**body, "uuid": str(uuid.uuid4())}  # the transport's retries reuse it
        token = await self.token.get()
        for attempt in range(2):
            response = await self._request(method, path, body, params, token)
            answer = _answer(response)
            code = int(answer.get("code", 0) or 0)
            if code == 0 and response.status_code < 400:
                data = answer if top_level else answer.get("data")
                return data if isinstance(data, dict) else {}
            if (code in TOKEN_ERRORS or response.status_code == 401) and attempt == 0:
                token = await self.token.get(stale=token)  # revoked early: one refresh
                continue
            raise _refused(response.status_code, code, answer)
        raise AssertionError("unreachable")

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None,
        token: str,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                path,
                json=body,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Feishu unreachable: {type(exc).__name__}", platform="feishu", retryable=True
            ) from None

    async def _fetch_token(self) -> tuple[str, int]:
        try:
            response = await self._http.post(
                "/open-apis/auth/v3/tenant_access_token/internal",
                json={"app_id": self._app_id, "app_secret": self._secret},
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"Feishu token unavailable: {type(exc).__name__}",
                platform="feishu",
                retryable=True,
            ) from None
        answer = _answer(response)
        if answer.get("code") != 0 or "tenant_access_token" not in answer:
            raise DeliveryError(
                f"Feishu token refused: code {answer.get('code')}",
                platform="feishu",
                code=str(answer.get("code", response.status_code)),
            )
        log.info("feishu tenant access token refreshed")
        return str(answer["tenant_access_token"]), int(answer.get("expire", 7200))


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    return {"code": -1, "msg": f"HTTP {response.status_code} without JSON"}


def _refused(status: int, code: int, answer: dict[str, Any]) -> DeliveryError:
    # 5xx and 429 reach here only once the transport's retries are spent
    return DeliveryError(
        f"Feishu refused: code {code} {answer.get('msg', '')}".strip(),
        platform="feishu",
        code=str(code or status),
        retryable=status >= 500 or status == 429 or code in TOKEN_ERRORS,
    )


class FeishuOutbound:
    """Replies in the message's thread or as a reply in a group; new messages in a p2p chat."""

    platform = "feishu"
    capabilities = Capabilities(threads=True, proactive_send=True)

    def __init__(self, api: FeishuAPI, host: Host) -> None:
        self.api = api
        self.host = host

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send each reply as text (buttons and cards become a numbered menu)."""
        chat = address.extra.get("chat_id") or address.conversation_id
        for reply in replies:
            await self.host.pace(chat)
            await self._one(address, chat, {"text": render_text(reply)})

    async def _one(self, address: Address, chat: str, content: dict[str, Any]) -> None:
        target = address.extra.get("message_id", "")
        threaded = bool(address.thread_id)
        if target and (threaded or address.extra.get("chat_type") == "group"):
            try:
                await self.api.reply(target, "text", content, in_thread=threaded)
                return
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                # the message was withdrawn or is gone: say it in the chat instead
                log.warning("feishu reply refused; sending to the chat", extra={"code": exc.code})
        await self.api.send(chat, "text", content)
