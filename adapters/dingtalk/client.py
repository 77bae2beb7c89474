"""Sending on DingTalk: the sessionWebhook while it is valid, else the robot OpenAPI.

The OpenAPI token comes from ``/v1.0/oauth2/accessToken`` and is shared by
every replica (:class:`~bot.stores.tokens.SharedToken`). Buttons become an
ActionCard whose buttons send their payload back as a message.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import httpx
import redis.asyncio as aioredis

from adapters.console import render_text
from bot.errors import DeliveryError
from bot.http.retry import RetryTransport
from bot.models import Address, Reply
from bot.outbound import Capabilities
from bot.stores.tokens import SharedToken


def message(reply: Reply) -> dict[str, Any]:
    """A sessionWebhook message: text, or an ActionCard when there are buttons."""
    if not reply.buttons:
        return {"msgtype": "text", "text": {"content": render_text(reply)}}
    buttons = [
        {
            "title": b.title,
            "actionURL": "dtmd://dingtalkclient/sendMessage?content="
            + urllib.parse.quote(b.payload),
        }
        for b in reply.buttons
    ]
    return {
        "msgtype": "actionCard",
        "actionCard": {
            "title": reply.text[:20],
            "text": reply.text,
            "btnOrientation": "0",
            "btns": buttons,
        },
    }


class DingTalkOutbound:
    """Replies and proactive sends for DingTalk conversations."""

    platform = "dingtalk"
    capabilities = Capabilities(buttons=True, cards=True, proactive_send=True)

    def __init__(self, *, base_url: str, client_id: str, client_secret: str) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=5.0,
            transport=RetryTransport(platform="dingtalk"),
        )
        self.token: SharedToken | None = None

    def use_redis(self, redis: aioredis.Redis, prefix: str) -> None:
        """Share the OpenAPI token through ``redis``."""
        self.token = SharedToken(
            redis,
            key=f"{prefix}:dingtalk:token:{self._client_id}",
            fetch=self._fetch_token,
            platform="dingtalk",
        )

    async def close(self) -> None:
        """Close connections."""
        await self._http.aclose()

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Each reply through the sessionWebhook if still valid, else the OpenAPI."""
        for reply in replies:
            webhook = address.extra.get("session_webhook", "")
            expires = int(address.extra.get("session_webhook_expires_ms", "0") or 0)
            if webhook and expires > time.time() * 1000 + 5000:
                await self._post(webhook, message(reply))
            else:
                await self._openapi(address, reply)

    async def _openapi(self, address: Address, reply: Reply) -> None:
        if self.token is None:
            raise DeliveryError("DingTalk channel not started", platform="dingtalk", retryable=True)
        param = json.dumps({"content": render_text(reply)}, ensure_ascii=False)
        body: dict[str, Any]
        if address.extra.get("conversation_type") == "2":
            path, body = (
                "/v1.0/robot/groupMessages/send",
                {
                    "robotCode": address.account or self._client_id,
                    "openConversationId": address.conversation_id,
                    "msgKey": "sampleText",
                    "msgParam": param,
                },
            )
        else:
            path, body = (
                "/v1.0/robot/oToMessages/batchSend",
                {
                    "robotCode": address.account or self._client_id,
                    "userIds": [address.user_id],
                    "msgKey": "sampleText",
                    "msgParam": param,
                },
            )
        token = await self.token.get()
        await self._post(path, body, headers={"x-acs-dingtalk-access-token": token})

    async def _post(
        self, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        try:
            response = await self._http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(
                f"DingTalk unreachable: {type(exc).__name__}", platform="dingtalk", retryable=True
            ) from None
        if response.status_code >= 400:
            raise DeliveryError(
                f"DingTalk answered HTTP {response.status_code}",
                platform="dingtalk",
                retryable=response.status_code >= 500 or response.status_code == 429,
                code=str(response.status_code),
            )
        data = response.json() if response.content else {}
        if isinstance(data, dict) and data.get("errcode") not in (None, 0):
            raise DeliveryError(
                f"DingTalk refused: {data.get('errmsg')}",
                platform="dingtalk",
                code=str(data.get("errcode")),
            )

    async def _fetch_token(self) -> tuple[str, int]:
        response = await self._http.post(
            "/v1.0/oauth2/accessToken", json={"appKey": self._client_id, "appSecret": self._secret}
        )
        data = response.json()
        if response.status_code >= 400 or "accessToken" not in data:
            raise DeliveryError(
                "DingTalk token refused", platform="dingtalk", code=str(response.status_code)
            )
        return str(data["accessToken"]), int(data.get("expireIn", 7200))
