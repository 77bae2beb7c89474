"""WeCom's customer-service (``kf``) API, called with httpx (wechatpy 1.8 has no kf client).

The access token (``cgi-bin/gettoken?corpid&corpsecret``) lives in Redis,
shared by every replica through :class:`~bot.stores.tokens.SharedToken`: a
refresh invalidates the previous token, so one replica refreshes while the
others wait. Errcodes 40001/40014/42001 (token invalid or expired) refresh once
and retry. The 95000 range is the kf API's own refusals (95001 send limit,
95002 48-hour window, 95013 session ended, 95018 the session state does not
allow sending ...): a non-retryable :class:`DeliveryError` carrying the code.
Logs name the errcode, never a token, secret or message text.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from bot.errors import DeliveryError
from bot.http.retry import RetryTransport
from bot.keys import Keys
from bot.stores.tokens import SharedToken

log = logging.getLogger(__name__)

PLATFORM = "wecom"
TOKEN_ERRORS = frozenset({40001, 40014, 42001})
BAD_MSG_TOKEN = 95007  # the event's sync token expired (10 minutes): sync without it
RETRYABLE = frozenset({-1, 45009})  # system busy, API frequency limit
SEND_LIMIT, WINDOW_CLOSED, STATE_FORBIDS = 95001, 95002, 95018


@dataclass(frozen=True, slots=True)
class Page:
    """One ``kf/sync_msg`` answer."""

    messages: list[dict[str, Any]]
    next_cursor: str
    has_more: bool


class WeComAPI:
    """Token management and the kf calls this plug-in makes."""

    def __init__(
        self,
        *,
        base_url: str,
        corp_id: str,
        secret: str,
        redis: aioredis.Redis,
        keys: Keys,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._corp_id = corp_id
        self._secret = secret
        self._token = SharedToken(
            redis, key=keys.token(PLATFORM, corp_id), fetch=self._fetch_token, platform=PLATFORM
        )
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=5.0,
            transport=transport or RetryTransport(platform=PLATFORM),
        )

    async def close(self) -> None:
        """Close connections."""
        await self._http.aclose()

    async def access_token(self, *, stale: str | None = None) -> str:
        """A valid token: from Redis, or fetched by exactly one replica."""
        return await self._token.get(stale=stale)

    async def _fetch_token(self) -> tuple[str, int]:
        response = await self._http.get(
            "/cgi-bin/gettoken", params={"corpid": self._corp_id, "corpsecret": self._secret}
        )
        data = _json(response)
        if int(data.get("errcode", 0)) != 0 or "access_token" not in data:
            code = str(data.get("errcode", ""))
            log.error("wecom token refused", extra={"code": code})
            raise DeliveryError(
                f"WeCom token refused: errcode {code}", platform=PLATFORM, code=code
            )
        log.info("wecom access token refreshed")
        return str(data["access_token"]), int(data.get("expires_in", 7200))

    # -- the kf calls -------------------------------------------------------------------

    async def sync_msg(self, open_kfid: str, cursor: str, token: str, limit: int) -> Page:
        """One page of messages after ``cursor``; an expired event token is dropped once."""
        body: dict[str, Any] = {"cursor": cursor, "limit": limit, "open_kfid": open_kfid}
        if token:
            body["token"] = token
        try:
            data = await self._call("/cgi-bin/kf/sync_msg", body)
        except DeliveryError as exc:
            if exc.code != str(BAD_MSG_TOKEN) or not token:
                raise
            # Without a token the call is rate-limited harder, but the messages are the same.
            body.pop("token")
            data = await self._call("/cgi-bin/kf/sync_msg", body)
        messages = data.get("msg_list") or []
        if not isinstance(messages, list):
            raise DeliveryError(
                "WeCom sync_msg answered garbage", platform=PLATFORM, retryable=True
            )
        return Page(
            messages=[_valid_text(m) for m in messages if isinstance(m, dict)],
            next_cursor=str(data.get("next_cursor") or ""),
            has_more=bool(data.get("has_more")),
        )

    async def send_text(self, open_kfid: str, external_userid: str, content: str) -> None:
        """``kf/send_msg``: one text to a customer, inside the 48-hour window."""
        body = {
            "touser": external_userid,
            "open_kfid": open_kfid,
            "msgtype": "text",
            "text": {"content": content},
        }
        await self._call("/cgi-bin/kf/send_msg", body)

    async def send_on_event(self, code: str, content: str) -> None:
        """``kf/send_msg_on_event``: the welcome, with the ``welcome_code`` of ``enter_session``."""
        body = {"code": code, "msgtype": "text", "text": {"content": content}}
        await self._call("/cgi-bin/kf/send_msg_on_event", body)

    async def transfer(
        self, open_kfid: str, external_userid: str, state: int, servicer: str = ""
    ) -> None:
        """``kf/service_state/trans``: 2 to the human queue, 3 to ``servicer`` (a userid)."""
        body: dict[str, Any] = {
            "open_kfid": open_kfid,
            "external_userid": external_userid,
            "service_state": state,
        }
        if servicer:
            body["servicer_userid"] = servicer
        await self._call("/cgi-bin/kf/service_state/trans", body)

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body``; an invalid token is refreshed once; any errcode is a DeliveryError."""
        token = await self.access_token()
        content = json.dumps(body, ensure_ascii=False).encode()
        for attempt in range(2):
            response = await self._http.post(path, params={"access_token": token}, content=content)
            data = _json(response)
            code = int(data.get("errcode", 0) or 0)
            if code == 0:
                return data
            if code in TOKEN_ERRORS and attempt == 0:
                token = await self.access_token(stale=token)
                continue
            log.warning("wecom api refused", extra={"api": path, "code": str(code)})
            raise DeliveryError(
                f"WeCom {path} failed: errcode {code} {data.get('errmsg', '')}",
                platform=PLATFORM,
                code=str(code),
                retryable=code in RETRYABLE,
            )
        raise DeliveryError(
            f"WeCom {path} failed after a token refresh", platform=PLATFORM, code="40014"
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500 or response.status_code == 429:
        raise DeliveryError(
            f"WeCom API answered HTTP {response.status_code}",
            platform=PLATFORM,
            retryable=True,
            code=str(response.status_code),
        )
    try:
        data = response.json()
    except ValueError:
        raise DeliveryError(
            "WeCom API answered garbage", platform=PLATFORM, retryable=True
        ) from None
    if not isinstance(data, dict):
        raise DeliveryError("WeCom API answered garbage", platform=PLATFORM, retryable=True)
    return data


# json.loads joins an escaped pair into one code point: a surrogate left over is a lone one
_SURROGATE = re.compile("[\ud800-\udfff]")


def _valid_text(value: Any) -> Any:
    """``value`` with each lone surrogate (a ``"\\ud800"`` escape in the JSON) made U+FFFD.

    Such a string is valid JSON but no Unicode text: it would fail wherever it is
    encoded (the reply, Redis, the records' database) and the page would be
    pulled again and again. A customer's message then reads with a replacement mark.
    """
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    return value
