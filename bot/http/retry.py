"""An httpx transport that retries what a platform API asks to be retried.

Wrap any httpx transport: 5xx, 429 and timeouts/connection errors are retried
with capped exponential backoff and full jitter, honouring ``Retry-After``.
Failed attempts are counted per platform in ``bot_outbound_errors_total``.
Only idempotent sends should use it with ``retry_non_idempotent=False`` left
as is; platform send APIs get an idempotency key from the caller instead.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bot import metrics

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry."""

    attempts: int = 4
    base_delay_s: float = 0.2
    max_delay_s: float = 5.0
    max_retry_after_s: float = 30.0
    statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1``."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        cap = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return random.uniform(cap / 2, cap)  # jitter so replicas don't retry in lockstep


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class RetryTransport(httpx.AsyncBaseTransport):
    """Retry 5xx, 429 and transport errors around ``inner``."""

    def __init__(
        self,
        *,
        platform: str,
        inner: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.platform = platform
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.policy = policy or RetryPolicy()
        self._sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, retrying as the policy says; the last answer or error is passed on."""
        last = self.policy.attempts - 1
        for attempt in range(self.policy.attempts):
            try:
                response = await self.inner.handle_async_request(request)
            except (httpx.TimeoutException, httpx.NetworkError):
                metrics.OUTBOUND_ERRORS.labels(self.platform, "transport").inc()
                if attempt == last:
                    raise
                await self._sleep(self.policy.backoff(attempt, None))
                continue
            if response.status_code not in self.policy.statuses or attempt == last:
                if response.status_code >= 400:
                    metrics.OUTBOUND_ERRORS.labels(self.platform, str(response.status_code)).inc()
                return response
            metrics.OUTBOUND_ERRORS.labels(self.platform, str(response.status_code)).inc()
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            await response.aclose()
            await self._sleep(self.policy.backoff(attempt, retry_after))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def retrying_client(
    *, platform: str, base_url: str = "", timeout_s: float = 10.0, policy: RetryPolicy | None = None
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose requests retry per ``policy``."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=timeout_s,
        transport=RetryTransport(platform=platform, policy=policy),
    )
