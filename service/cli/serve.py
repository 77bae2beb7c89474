"""``bot serve``: run the ASGI app with every enabled channel.

The runtime is started before the HTTP server and stopped after it, outside
uvicorn's lifespan: a start-up error then reaches the ``bot`` command as one
line (uvicorn would log it as a traceback), and the stop always runs. Once
asked to stop, the process ends within ``shutdown_drain_s`` plus a few seconds,
whatever stopped answering (:class:`_Server`).

With ``--workers N`` (N > 1) this process becomes the parent of N such
processes sharing the port (:mod:`service.cli.workers`); each of them runs the
code below on the socket it inherited.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import threading
from types import FrameType

import click
import uvicorn

from bot.redis_conn import stop_embedded
from bot.runtime import STOP_GRACE_S, Runtime
from bot.settings import Settings
from service.app import create_app
from service.bootstrap import build_runtime
from service.cli.common import settings_from
from service.cli.workers import REPLICA_WHOLE, Supervisor, worker_count

log = logging.getLogger(__name__)
# Past the drain budget and the runtime's own grace, the process exits regardless.
HARD_STOP_GRACE_S = STOP_GRACE_S + 2.0


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind (default: setting HOST, 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default: setting PORT, 8000).")
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Worker processes sharing the port (default: setting WORKERS, else the number of cores).",
)
@click.option("--worker-fd", default=None, type=int, hidden=True)  # set by the parent only
@click.option("--worker-index", default=0, type=int, hidden=True)
@click.option("--ready-fd", default=None, type=int, hidden=True)  # told once it listens
@click.pass_context
def command(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    workers: int | None,
    worker_fd: int | None,
    worker_index: int,
    ready_fd: int | None,
) -> None:
    """Start the bot: webhooks, web chat, /healthz, /readyz and /metrics."""
    settings = settings_from(ctx)
    config = _config(settings, host, port)
    if worker_fd is None:
        root = ctx.find_root().obj or {}
        count = worker_count(settings, workers, root)
        if count > 1:
            sys.exit(Supervisor(settings, config, count, root).run())
    runtime = build_runtime(settings)
    # a replica's stream connections (DingTalk stream, Slack Socket Mode, Feishu) are its
    # first workers' only: as many connections per replica as with one process
    runtime.worker = worker_index
    runtime.opens_streams = worker_index < settings.stream_workers
    if worker_fd is not None:
        _ready_with_the_replica(runtime)
    _reload_on_sighup(runtime)
    config.app = create_app(runtime)
    sockets = None if worker_fd is None else [socket.socket(fileno=worker_fd)]
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(_Server(config, runtime), runtime, sockets, ready_fd))


def _config(settings: Settings, host: str | None, port: int | None) -> uvicorn.Config:
    return uvicorn.Config(
        "unused",  # the app is set once the runtime is built (workers: in each worker)
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # uvicorn's loggers go through ours (JSON, PII masked)
        access_log=False,
        lifespan="off",  # the runtime is started and stopped around the server, see _serve
        timeout_graceful_shutdown=max(1, round(settings.shutdown_drain_s)),
    )


async def _serve(
    server: _Server,
    runtime: Runtime,
    sockets: list[socket.socket] | None,
    ready_fd: int | None = None,
) -> None:
    # uvicorn re-raises the stop signal once it is done; our handler keeps that
    # from killing the process before the runtime has stopped.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, server.handle_exit)
    try:
        await runtime.start()
        serving = asyncio.create_task(server.serve(sockets=sockets))
        listening = asyncio.create_task(server.listening.wait())
        await asyncio.wait({serving, listening}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if ready_fd is not None and server.listening.is_set():  # tell the parent
            os.write(ready_fd, b"1")
            os.close(ready_fd)
        await serving
    finally:
        await runtime.stop()


class _Server(uvicorn.Server):
    """uvicorn's server, with a hard deadline from the first stop signal on.

    The runtime's stop is bounded, but a thread (a model training, a blocked
    client) can still hold the interpreter's exit; past the deadline the
    process stops its embedded Redis and exits.
    """

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime
        self.listening = asyncio.Event()
        self._deadline: threading.Timer | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's start-up; :attr:`listening` is set once it accepts connections."""
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.listening.set()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop serving, as uvicorn does, and arm the deadline once."""
        if self._deadline is None:
            budget_s = self.runtime.settings.shutdown_drain_s + HARD_STOP_GRACE_S
            self._deadline = threading.Timer(budget_s, self._overrun, args=(budget_s,))
            self._deadline.daemon = True
            self._deadline.start()
        super().handle_exit(sig, frame)

    def _overrun(self, budget_s: float) -> None:
        log.error("shutdown did not finish within %.0f s; exiting now", budget_s)
        server = self.runtime.redis_handle.embedded
        if server is not None:
            stop_embedded(server)
        logging.shutdown()
        os._exit(1)


def _ready_with_the_replica(runtime: Runtime) -> None:
    """A worker of several is ready once every worker of its replica listens.

    Its parent says so with ``REPLICA_WHOLE`` (:mod:`service.cli.workers`). Until
    then ``/readyz`` answers 503, so a load balancer (or a benchmark) does not open
    its kept-alive connections while only the first worker takes them.
    """
    whole = asyncio.Event()

    async def start() -> None:
        asyncio.get_running_loop().add_signal_handler(REPLICA_WHOLE, whole.set)

    async def listening_all() -> bool:
        return whole.is_set()

    # installed before the runtime starts, so before the parent can send the signal
    runtime.add_service("replica-whole", start=start, stop=_nothing)
    runtime.add_readiness_check("workers", listening_all)


async def _nothing() -> None:
    return None


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
