"""The ASGI app: health, readiness, metrics and every enabled channel's routes."""

from __future__ import annotations

from fastapi import FastAPI
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot import metrics
from bot.errors import BotError
from bot.http.errors import bot_error_handler, redis_down_handler
from bot.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app around an already-built runtime (its channels included).

    Whoever serves the app starts and stops the runtime (``bot serve`` does, around
    the HTTP server), so that start-up errors and the bounded stop are its own.
    """
    app = FastAPI(title="csbot", docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.add_exception_handler(BotError, bot_error_handler)
    for redis_error in (RedisConnectionError, RedisTimeoutError):
        app.add_exception_handler(redis_error, redis_down_handler)

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        checks = await runtime.readiness()
        ok = all(checks.values())
        return JSONResponse(checks, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    for channel in runtime.channels:
        app.router.routes.extend(channel.routes())
    app.router.routes.extend(runtime.routes)
    return app
