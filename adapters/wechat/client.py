"""WeChat's customer-service message API, called with httpx (wechatpy has no async client).

The access token lives in Redis, shared by every replica; one replica at a
time refreshes it (``SET NX`` lock) while the others wait and re-read, since a
refresh invalidates the previous token. Errcodes 40001/40014/42001 (token
invalid or expired) refresh once and retry; 45015 (48-hour window closed) and
45047 (send quota used up) become non-retryable :class:`DeliveryError`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import redis.asyncio as aioredis

from bot.errors import DeliveryError
from bot.http.retry import RetryTransport
from bot.keys import Keys
from bot.stores.tokens import SharedToken

log = logging.getLogger(__name__)

TOKEN_ERRORS = {40001, 40014, 42001}
WINDOW_CLOSED, QUOTA_USED = 45015, 45047


class WeChatAPI:
    """Token management and ``message/custom/send``."""

    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        app_secret: str,
        redis: aioredis.Redis,
        keys: Keys,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._app_id = app_id
        self._secret = app_secret
        self._token = SharedToken(
            redis, key=keys.token("wechat", app_id), fetch=self._fetch_token, platform="wechat"
        )
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=5.0,
            transport=transport or RetryTransport(platform="wechat"),
        )

    async def close(self) -> None:
        """Close connections."""
        await self._http.aclose()

    async def access_token(self, *, stale: str | None = None) -> str:
        """A valid token: from Redis, or fetched by exactly one replica."""
        return await self._token.get(stale=stale)

    async def _fetch_token(self) -> tuple[str, int]:
        response = await self._http.get(
            "/cgi-bin/token",
            params={
                "grant_type": "client_credential",
                "appid": self._app_id,
                "secret": self._secret,
            },
        )
        data = _json(response)
        if "access_token" not in data:
            raise DeliveryError(
                f"token refused: errcode {data.get('errcode')}",
                platform="wechat",
                code=str(data.get("errcode", "")),
            )
        log.info("wechat access token refreshed")
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    async def send_text(self, openid: str, content: str) -> None:
        """One customer-service text message; raises :class:`DeliveryError` on failure."""
        body = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        token = await self.access_token()
        for attempt in range(2):
            response = await self._http.post(
                "/cgi-bin/message/custom/send",
                params={"access_token": token},
                content=json.dumps(body, ensure_ascii=False).encode(),
            )
            data = _json(response)
            code = int(data.get("errcode", 0))
            if code == 0:
                return
            if code in TOKEN_ERRORS and attempt == 0:
                token = await self.access_token(stale=token)
                continue
            raise DeliveryError(
                f"WeChat send failed: errcode {code} {data.get('errmsg', '')}",
                platform="wechat",
                code=str(code),
                retryable=code not in (WINDOW_CLOSED, QUOTA_USED),
            )
        raise DeliveryError(
            "WeChat send failed after a token refresh", platform="wechat", code="40001"
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500 or response.status_code == 429:
        raise DeliveryError(
            f"WeChat API answered HTTP {response.status_code}",
            platform="wechat",
            retryable=True,
            code=str(response.status_code),
        )
    try:
        data = response.json()
    except ValueError:
        raise DeliveryError(
            "WeChat API answered garbage", platform="wechat", retryable=True
        ) from None
    if not isinstance(data, dict):
        raise DeliveryError("WeChat API answered garbage", platform="wechat", retryable=True)
    return data
