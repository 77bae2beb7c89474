"""Flow actions: HTTP calls to the business backend through httpx, with timeout and retry."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import httpx

from bot.http.retry import RetryPolicy, RetryTransport
from dialog.config import Action
from dialog.templates import MISSING, fill

log = logging.getLogger(__name__)


class ActionError(Exception):
    """The backend refused, failed, timed out or answered garbage.

    ``code`` says which, for the reply to name in the conversation's language:
    the backend's own ``code`` field, else ``http_<status>``, ``unreachable``,
    ``garbage`` or ``missing_info``. ``str()`` is for the logs.
    """

    def __init__(self, message: str, code: str = "failed") -> None:
        super().__init__(message)
        self.code = code


class Backend:
    """Calls the backend at ``base_url``; one client per process."""

    def __init__(self, base_url: str, *, timeout_s: float = 5.0, attempts: int = 3) -> None:
        self.base_url = base_url
        self._client = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout_s,
            transport=RetryTransport(platform="backend", policy=RetryPolicy(attempts=attempts)),
        )

    async def close(self) -> None:
        """Close connections."""
        await self._client.aclose()

    async def run(self, action: Action, values: Mapping[str, Any]) -> dict[str, Any]:
        """Call the backend; the JSON object it returns, or :class:`ActionError`."""
        path = fill(action.path, values, template_id=f"action:{action.path}")
        if MISSING in path:
            raise ActionError("missing information for the request", "missing_info")
        body = {field: values.get(slot) for field, slot in action.body.items()}
        try:
            response = await self._client.request(action.method, path, json=body or None)
        except httpx.HTTPError as exc:
            log.warning(
                "backend call failed", extra={"path": action.path, "error": type(exc).__name__}
            )
            raise ActionError("backend unreachable", "unreachable") from None
        try:
            data = response.json()
        except ValueError:
            raise ActionError("backend answered garbage", "garbage") from None
        if not isinstance(data, dict):
            raise ActionError("backend answered garbage", "garbage")
        if response.status_code >= 400:
            code = str(data.get("code") or f"http_{response.status_code}")
            raise ActionError(str(data.get("error") or f"HTTP {response.status_code}"), code)
        return data
