"""The ASGI app: health, readiness, metrics and every enabled channel's routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from bot import metrics
from bot.errors import BotError
from bot.http.errors import bot_error_handler
from bot.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    """Build the app around an already-built runtime (its channels included)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title="csbot", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.add_exception_handler(BotError, bot_error_handler)

    @app.get("/healthz")
    async def healthz() -> Response:
        return PlainTextResponse("ok")

    @app.get("/readyz")
    async def readyz(request: Request) -> Response:
        ok = await runtime.ready()
        return JSONResponse({"redis": ok}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    for channel in runtime.channels:
        app.router.routes.extend(channel.routes())
    return app
