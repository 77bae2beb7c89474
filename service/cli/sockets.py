"""The listening sockets of ``bot serve --workers N``: one per worker, on one port.

With one socket shared by every worker, whichever worker woke first accepted a
whole burst of new connections, and kept-alive connections stay where they
were accepted: under ``bench/wechat_wrk.py`` (32 connections, 2 workers) one
worker ran at 98% of a core and the other at 29%, and two workers answered no
more than one. With ``SO_REUSEPORT`` each worker listens on a socket of its
own and the kernel spreads new connections over the listening ones by their
addresses. A socket is only listened on once its worker serves, so no
connection waits in the queue of a worker that is still starting.

Where the option does not spread connections (it does on Linux only), the
workers share one socket as before.
"""

from __future__ import annotations

import logging
import socket
import sys

log = logging.getLogger(__name__)

SPREADS = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
STARTUP_FAILURE = 3  # uvicorn's exit status when it cannot bind


def worker_sockets(first: socket.socket, count: int) -> list[socket.socket]:
    """``count`` sockets on ``first``'s address, one per worker (``first`` itself where
    the kernel cannot spread connections, or for one worker).

    ``first`` is the socket uvicorn bound, which also checked that the port was free
    and said where the bot listens; it is closed and its port bound again by sockets
    that share it. A port taken in between is one logged line and a non-zero exit.
    """
    if count == 1 or not SPREADS:
        return [first] * count
    host, port = first.getsockname()[:2]
    family = first.family
    first.close()
    try:
        return [_shared(family, host, port) for _ in range(count)]
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", host, port, exc)
        raise SystemExit(STARTUP_FAILURE) from None


def _shared(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock
