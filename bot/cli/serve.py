"""``bot serve``: run the ASGI app with every enabled channel."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import click
import uvicorn

from bot.app import create_app
from bot.bootstrap import build_runtime
from bot.cli.common import settings_from
from bot.runtime import Runtime

log = logging.getLogger(__name__)


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default: setting HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: setting PORT, 8000).")
@click.pass_context
def command(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Start the bot: webhooks, web chat, /healthz, /readyz and /metrics."""
    settings = settings_from(ctx)
    runtime = build_runtime(settings)
    _reload_on_sighup(runtime)
    app = create_app(runtime)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # keep our JSON logging
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def _reload_on_sighup(runtime: Runtime) -> None:
    """`bot reload` (or kill -HUP) swaps in the current model; a pid file lets it find us."""
    pidfile = runtime.settings.data_dir / "run" / f"serve-{os.getpid()}.pid"

    async def reload() -> None:
        from nlu.loader import resolve_model_dir

        if runtime.nlu is None:
            return
        try:
            directory = await asyncio.to_thread(
                resolve_model_dir, runtime.settings, train_if_stale=False
            )
            await runtime.nlu.reload(directory)
        except Exception:
            log.exception("model reload failed; the previous model keeps serving")

    async def start() -> None:
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(str(os.getpid()))
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP, lambda: runtime.spawn(reload(), name="model-reload")
        )

    async def stop() -> None:
        pidfile.unlink(missing_ok=True)

    runtime.add_service("sighup-reload", start=start, stop=stop)
