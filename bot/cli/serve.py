"""``bot serve``: run the ASGI app with every enabled channel."""

from __future__ import annotations

import click
import uvicorn

from bot.app import create_app
from bot.bootstrap import build_runtime
from bot.cli.common import settings_from


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default: setting HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: setting PORT, 8000).")
@click.pass_context
def command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Start the bot: webhooks, web chat, /healthz, /readyz and /metrics."""
    settings = settings_from(ctx)
    runtime = build_runtime(settings)
    app = create_app(runtime)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        timeout_graceful_shutdown=10,
    )
