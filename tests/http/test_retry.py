"""RetryTransport against a real local HTTP server that fails on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from bot.http.retry import RetryPolicy, RetryTransport, parse_retry_after


@pytest.fixture
async def flaky_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Answers each request with the next status in ``script`` (then 200)."""
    script: list[int] = []
    seen: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        status = script.pop(0) if script else 200
        seen.append(status)
        headers = {"Retry-After": "0"} if status == 429 else {}
        return web.json_response({"status": status}, status=status, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    seen.clear()
    yield f"http://127.0.0.1:{port}", script
    await runner.cleanup()


def _client(base: str, sleeps: list[float]) -> httpx.AsyncClient:
    async def sleep(s: float) -> None:
        sleeps.append(s)

    transport = RetryTransport(platform="test", policy=RetryPolicy(attempts=4), sleep=sleep)
    return httpx.AsyncClient(base_url=base, transport=transport)


async def test_5xx_and_429_are_retried_then_succeed(flaky_server) -> None:
    base, script = flaky_server
    script.extend([500, 429, 503])
    sleeps: list[float] = []
    async with _client(base, sleeps) as client:
        response = await client.post("/send", json={"x": 1})
    assert response.status_code == 200
    assert len(sleeps) == 3
    assert sleeps[1] == 0.0  # Retry-After: 0 honoured


async def test_gives_up_after_the_last_attempt(flaky_server) -> None:
    base, script = flaky_server
    script.extend([500] * 10)
    sleeps: list[float] = []
    async with _client(base, sleeps) as client:
        response = await client.get("/x")
    assert response.status_code == 500
    assert len(sleeps) == 3


async def test_client_errors_are_not_retried(flaky_server) -> None:
    base, script = flaky_server
    script.append(400)
    sleeps: list[float] = []
    async with _client(base, sleeps) as client:
        response = await client.get("/x")
    assert response.status_code == 400 and sleeps == []


async def test_connection_refused_is_retried_then_raised() -> None:
    sleeps: list[float] = []
    async with _client("http://127.0.0.1:1", sleeps) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/x")
    assert len(sleeps) == 3


def test_backoff_is_capped_and_jittered() -> None:
    policy = RetryPolicy(base_delay_s=1, max_delay_s=4)
    delays = [policy.backoff(10, None) for _ in range(50)]
    assert all(2 <= d <= 4 for d in delays) and len(set(delays)) > 1
    assert policy.backoff(0, 100.0) == policy.max_retry_after_s


def test_retry_after_parses_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
