"""slack_sdk's ``AsyncWebClient`` over one kept-alive HTTP session.

Without a ``session``, slack_sdk opens an aiohttp session for each API call and
closes it after, so every reply pays a new TCP (and, against slack.com, TLS)
handshake. This client opens one session on its first call, inside the running
loop as aiohttp wants, and reuses its connection pool until :meth:`close`.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse


class PooledWebClient(AsyncWebClient):
    """An ``AsyncWebClient`` whose calls share one aiohttp session."""

    async def api_call(self, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        """Every Web API method comes through here: make sure the session is open first."""
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return await super().api_call(*args, **kwargs)

    async def close(self) -> None:
        """Close the session (a later call opens a new one)."""
        if self.session is not None and not self.session.closed:
            await self.session.close()
