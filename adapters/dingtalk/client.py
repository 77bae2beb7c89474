"""Sending on DingTalk: the sessionWebhook while it is valid, else the robot OpenAPI.

The OpenAPI token comes from ``/v1.0/oauth2/accessToken`` and is shared by
every replica (:class:`~bot.stores.tokens.SharedToken`). Buttons become an
ActionCard whose buttons send their payload back as a message
(:mod:`adapters.dingtalk.render`). ``send_group`` and ``send_to_users`` are
public so the staff desk can post to a DingTalk group without a session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import httpx
import redis.asyncio as aioredis

from adapters.dingtalk.render import openapi_message, webhook_message
from bot.errors import DeliveryError
from bot.http.retry import RetryTransport
from bot.keys import Keys
from bot.models import Address, Reply
from bot.outbound import Capabilities
from bot.stores.tokens import SharedToken

log = logging.getLogger(__name__)
WEBHOOK_MARGIN_MS = 5000  # a webhook about to expire is not worth the race


class DingTalkOutbound:
    """Replies and proactive sends for DingTalk conversations."""

    platform = "dingtalk"
    capabilities = Capabilities(buttons=True, cards=True, proactive_send=True)

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        redis: aioredis.Redis,
        keys: Keys,
    ) -> None:
        self._client_id = client_id
        self._secret = client_secret
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=5.0,
            transport=RetryTransport(platform="dingtalk"),
        )
        # the OpenAPI token, shared by every replica through Redis
        self.token = SharedToken(
            redis,
            key=keys.token("dingtalk", client_id),
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
            try:
                if webhook and expires > time.time() * 1000 + WEBHOOK_MARGIN_MS:
                    if await self._via_webhook(webhook, reply, address=address):
                        continue
                if address.extra.get("conversation_type") == "2":
                    await self.send_group(
                        address.conversation_id, reply, robot_code=address.account
                    )
                else:
                    await self.send_to_users([address.user_id], reply, robot_code=address.account)
            except DeliveryError as exc:
                log.error(
                    "dingtalk send failed",
                    extra={"code": exc.code, "retryable": exc.retryable, "error": str(exc)},
                )
                raise

    async def _via_webhook(self, webhook: str, reply: Reply, *, address: Address) -> bool:
        """Post through the sessionWebhook; False when DingTalk refused it (expired early).

        Only an explicit refusal falls back to the OpenAPI: after a 5xx the message
        may have gone out, and a second copy is worse than a reported failure.
        """
        body = webhook_message(reply)
        if address.extra.get("conversation_type") == "2" and address.user_id:
            # In a group, @ the person who asked (as the SDK's reply helpers do).
            body["at"] = {"atUserIds": [address.user_id]}
        try:
            await self._post(webhook, body)
        except DeliveryError as exc:
            if exc.retryable:
                raise
            log.warning(
                "dingtalk sessionWebhook refused; using the OpenAPI", extra={"code": exc.code}
            )
            return False
        return True

    async def send_group(
        self, open_conversation_id: str, reply: Reply, *, robot_code: str = ""
    ) -> None:
        """Post ``reply`` to a group the robot is in (``/v1.0/robot/groupMessages/send``)."""
        key, param = openapi_message(reply)
        body = {
            "robotCode": robot_code or self._client_id,
            "openConversationId": open_conversation_id,
            "msgKey": key,
            "msgParam": param,
        }
        await self._openapi("/v1.0/robot/groupMessages/send", body)

    async def send_to_users(
        self, user_ids: Sequence[str], reply: Reply, *, robot_code: str = ""
    ) -> None:
        """Send ``reply`` 1:1 to each of ``user_ids`` (``/v1.0/robot/oToMessages/batchSend``)."""
        key, param = openapi_message(reply)
        body = {
            "robotCode": robot_code or self._client_id,
            "userIds": list(user_ids),
            "msgKey": key,
            "msgParam": param,
        }
        await self._openapi("/v1.0/robot/oToMessages/batchSend", body)

    async def _openapi(self, path: str, body: dict[str, Any]) -> None:
        token = await self.token.get()
        try:
            await self._post(path, body, headers={"x-acs-dingtalk-access-token": token})
        except DeliveryError as exc:
            if exc.code != "401":
                raise
            # The token was revoked early (another app refresh): fetch a new one once.
            token = await self.token.get(stale=token)
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
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}  # a 2xx without JSON: accepted
        if isinstance(data, dict) and data.get("errcode") not in (None, 0):
            raise DeliveryError(
                f"DingTalk refused: {data.get('errmsg')}",
                platform="dingtalk",
                code=str(data.get("errcode")),
            )

    async def _fetch_token(self) -> tuple[str, int]:
        try:
            response = await self._http.post(
                "/v1.0/oauth2/accessToken",
                json={"appKey": self._client_id, "appSecret": self._secret},
            )
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeliveryError(
                f"DingTalk token unavailable: {type(exc).__name__}",
                platform="dingtalk",
                retryable=True,
            ) from None
        if response.status_code >= 400 or not isinstance(data, dict) or "accessToken" not in data:
            raise DeliveryError(
                "DingTalk token refused", platform="dingtalk", code=str(response.status_code)
            )
        return str(data["accessToken"]), int(data.get("expireIn", 7200))
