"""``bot serve --workers N``: N worker processes on one listening socket.

The parent binds the port and starts N ``bot serve`` workers, each inheriting a
listening socket of its own on that port (``service/cli/sockets.py``: the kernel
spreads new connections over them). Each worker is a
whole runtime, started and stopped exactly as a single ``bot serve`` is: to
Redis it is one more replica, with its own replica id, heartbeat and in-flight
messages, so everything is shared through Redis as between replicas on
separate machines. Only worker 0 (``STREAM_WORKERS`` of them) opens the
platforms' stream connections, so a replica holds as many as before.

The parent owns what must exist once per replica: the socket and, without
``REDIS_URL``, the embedded Redis server (the workers join it; it stops after
the last of them). It forwards SIGTERM/SIGINT (drain, then exit) and SIGHUP
(model reload). A worker that dies stops the whole replica, so the
orchestrator's restart policy applies as for one process, and a setup error
(bad flows, no Redis) ends ``bot serve`` with its status instead of a crash loop.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from bot.redis_conn import start_embedded, stop_embedded
from bot.runtime import STOP_GRACE_S
from bot.settings import Settings, load_settings
from service.cli.sockets import worker_sockets

log = logging.getLogger(__name__)
# After the drain budget and a worker's own hard deadline, the parent kills what is left.
KILL_GRACE_S = STOP_GRACE_S + 7.0
# A worker: the ``bot`` command, started from this interpreter whatever launched the parent.
WORKER_MAIN = "from service.cli import main; main(prog_name='bot')"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Parent -> workers: every worker of the replica listens (see serve._ready_with_the_replica).
REPLICA_WHOLE = signal.SIGUSR1


def default_workers() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    return len(os.sched_getaffinity(0))


def needs_warm_up(config_dir: str | None, data_dir: str | None) -> bool:
    """Whether a worker would train a model before it can answer (no usable model yet).

    Run in a throwaway process: the check imports the NLU stack, which the
    parent, alive as long as the replica, should not hold in memory.
    """
    from nlu.loader import usable_model_dir

    return usable_model_dir(load_settings(config_dir, data_dir)) is None


def worker_count(settings: Settings, asked: int | None, root: dict[str, Any]) -> int:
    """How many workers to start: ``asked``, ``WORKERS``, else the cores; 1 while warming up."""
    count = asked or settings.workers or default_workers()
    if count > 1 and settings.model_dir is None:
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            warm = pool.apply(needs_warm_up, (root.get("config_dir"), root.get("data_dir")))
        if warm:
            # each worker would train its own copy at once; one trains, then a restart scales
            log.warning(
                "no trained model yet: serving with 1 worker while it trains; "
                "restart bot serve (or run bot train first) to use %d workers",
                count,
            )
            return 1
    return count


class Supervisor:
    """The parent of a replica's workers (see the module docstring)."""

    def __init__(
        self, settings: Settings, config: uvicorn.Config, count: int, root: dict[str, Any]
    ) -> None:
        self.settings = settings
        self.config = config
        self.count = count
        self.root = root
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.serving = False
        self.status = 0
        self._killer: threading.Timer | None = None

    def run(self) -> int:
        """Bind, start the embedded Redis if needed, start the workers, wait for them all."""
        # exits with a logged error if the port is taken
        sockets = worker_sockets(self.config.bind_socket(), self.count)
        embedded = None
        if not self.settings.redis_url:
            embedded, _ = start_embedded(self.settings.data_dir)
            embedded.ping()  # hold a connection: a stopping worker then never stops the server
        try:
            self._install_signals()
            if self._first_ready(sockets[0].fileno()):
                self._start_the_others(sockets)
            self._reap()
        finally:
            for sock in set(sockets):
                sock.close()
            if self._killer is not None:
                self._killer.cancel()
            if embedded is not None:
                stop_embedded(embedded)
        return self.status

    def _first_ready(self, fd: int) -> bool:
        """Start worker 0 alone and wait until it listens, or it has exited.

        A setup error (bad flows, no Redis) is then reported once, by that worker,
        as one line, and no other worker repeats it.
        """
        return self._started([self._start_told(0, fd)])

    def _start_the_others(self, sockets: list[socket.socket]) -> None:
        """Start workers 1..N-1 together; once all of them listen, tell every worker that
        the replica is whole (their ``/readyz`` turns 200) and say so."""
        told = [self._start_told(i, sockets[i].fileno()) for i in range(1, self.count)]
        if not self._started(told):  # one exited before it listened: the replica stops
            if not self.stopping:
                self.status = self.status or 1
                self.stop()
            return
        self.serving = True  # from now on, a worker's exit is news (before: it said why)
        self._signal_all(REPLICA_WHOLE)
        log.info("serving with %d workers", self.count, extra={"workers": self.count})

    def _start_told(self, index: int, fd: int) -> int:
        """Start worker ``index``; the read end of the pipe it writes to once it listens."""
        ready, tell = os.pipe()
        try:
            process = self._start(index, fd, ready_fd=tell)
            self.workers[process.pid] = process
        finally:
            os.close(tell)  # the worker holds its own copy: EOF here once it exits
        return ready

    def _started(self, pipes: list[int]) -> bool:
        """Whether every worker behind ``pipes`` listens (False once one exited first)."""
        up = True
        for ready in pipes:
            with os.fdopen(ready, "rb") as pipe:
                up = pipe.read(1) == b"1" and up  # b"" if it exited first
        return up and not self.stopping

    def _start(self, index: int, fd: int, ready_fd: int | None = None) -> subprocess.Popen[bytes]:
        args = [sys.executable, "-c", WORKER_MAIN, "serve"]
        args += ["--worker-fd", str(fd), "--worker-index", str(index)]
        fds = [fd]
        if ready_fd is not None:
            args += ["--ready-fd", str(ready_fd)]
            fds.append(ready_fd)
        for option, key in (("--config", "config_dir"), ("--data-dir", "data_dir")):
            if self.root.get(key):
                args += [option, str(self.root[key])]
        return subprocess.Popen(
            args, pass_fds=tuple(fds), cwd=Path.cwd(), preexec_fn=_die_with_parent
        )

    def _install_signals(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, sig: int, frame: FrameType | None) -> None:
        self.stop()

    def _on_hup(self, sig: int, frame: FrameType | None) -> None:
        self._signal_all(signal.SIGHUP)  # kill -HUP on the parent reloads every worker's model

    def stop(self) -> None:
        """Ask every worker to drain and exit (SIGTERM); kill stragglers past their deadline."""
        if self.stopping:
            return
        self.stopping = True
        self._signal_all(signal.SIGTERM)
        budget_s = self.settings.shutdown_drain_s + KILL_GRACE_S
        self._killer = threading.Timer(budget_s, self._signal_all, args=(signal.SIGKILL,))
        self._killer.daemon = True
        self._killer.start()

    def _signal_all(self, sig: int) -> None:
        for process in list(self.workers.values()):
            if process.returncode is None:
                try:
                    process.send_signal(sig)
                except ProcessLookupError:
                    pass

    def _reap(self) -> None:
        """Wait for each worker's exit; the first one that ends uninvited stops the rest."""
        while self.workers:
            pid, wait_status = os.waitpid(-1, 0)
            process = self.workers.pop(pid, None)
            if process is None:
                continue  # not a worker (the warm-up check's pool, long gone)
            code = os.waitstatus_to_exitcode(wait_status)
            process.returncode = code  # reaped here; keeps Popen from waiting on it again
            if code != 0 and self.status == 0:
                self.status = code if code > 0 else 1
            if not self.stopping and self.serving:
                log.error(
                    "a worker exited (status %d): stopping the replica", code, extra={"pid": pid}
                )
                self.status = self.status or 1
                self.stop()


def _die_with_parent() -> None:
    """In a new worker: be killed with the parent, so a crashed replica leaves no workers.

    A SIGKILLed parent (an OOM kill, a crashed node) cannot forward anything; its
    workers must not keep answering on a port nobody supervises.
    """
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
