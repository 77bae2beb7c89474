"""Map the bot's errors to HTTP answers, in one place for every webhook.

Adapters raise :class:`~bot.errors.BadRequest`, :class:`~bot.errors.Forbidden`
and friends; the app turns them into 400/403/413/503 answers with a short
JSON body, so no webhook ever answers 500 for bad input.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.errors import BadRequest, BotError, Forbidden, PayloadTooLarge, StoreUnavailable

log = logging.getLogger(__name__)

STATUS: list[tuple[type[BotError], int]] = [
    (PayloadTooLarge, 413),
    (BadRequest, 400),
    (Forbidden, 403),
    (StoreUnavailable, 503),
]


def status_for(exc: BotError) -> int:
    """The HTTP status for ``exc`` (500 for errors that are ours, not the caller's)."""
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


async def bot_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for :class:`BotError`."""
    assert isinstance(exc, BotError)
    code = status_for(exc)
    log.warning(
        "webhook refused",
        extra={
            "path": request.url.path,
            "status": code,
            "error": type(exc).__name__,
            "detail": str(exc),
        },
    )
    return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=code)


async def redis_down_handler(request: Request, exc: Exception) -> Response:
    """Redis unreachable anywhere in a webhook: 503, so the platform retries later."""
    log.error(
        "redis unavailable during a webhook", extra={"path": request.url.path, "error": str(exc)}
    )
    return JSONResponse({"error": "StoreUnavailable", "detail": "try again later"}, status_code=503)


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The request body, refusing more than ``max_bytes`` without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {max_bytes}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"body is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)
