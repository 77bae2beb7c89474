"""A TCP proxy in front of the test Redis that can lose or hold back one answer on purpose.

It passes the Redis protocol through untouched. Armed with a byte string, it
forwards the next request that contains it, lets Redis run it, and then closes
the client's connection instead of passing the answer on: the command ran, and
the client sees a connection error, as when a network drops a reply. It can
stay down after that (every new connection closed at once) until :meth:`up`.
Or it holds that answer back until :meth:`release`: the command ran, and the
client hears so late, as on a slow link, while its other connections go on.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


class AnswerLosingProxy:
    """Forward 127.0.0.1:<port> to the Redis of ``target`` (``url`` or ``unix_socket_path``)."""

    def __init__(self, target: dict[str, Any]) -> None:
        self._target = target
        self._armed: bytes | None = None
        self._hold: bytes | None = None
        self.released = asyncio.Event()
        self._down_after = False
        self.down = False
        self.lost = 0  # answers dropped so far
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> int:
        """Listen on a free port (``port``); returns it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def lose_answer_to(self, fragment: bytes, *, then_down: bool = False) -> None:
        """Drop the answer to the next request that contains ``fragment``.

        ``then_down``: and from then on refuse every connection, until :meth:`up`.
        """
        self._armed = fragment
        self._down_after = then_down

    def hold_answer_to(self, fragment: bytes) -> None:
        """Hold back the answer to the next request that contains ``fragment`` until
        :meth:`release`."""
        self._hold = fragment
        self.released.clear()

    def release(self) -> None:
        """Pass the held answer on."""
        self.released.set()

    def go_down(self) -> None:
        """Redis becomes unreachable: close every connection, refuse new ones until :meth:`up`."""
        self.down = True
        for writer in self._open:
            writer.close()

    def up(self) -> None:
        """Serve connections again."""
        self.down = False

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if "unix_socket_path" in self._target:
            return await asyncio.open_unix_connection(self._target["unix_socket_path"])
        from urllib.parse import urlparse

        url = urlparse(self._target["url"])
        return await asyncio.open_connection(url.hostname or "127.0.0.1", url.port or 6379)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await self._open_upstream()
        self._open.add(writer)
        cut = asyncio.Event()  # set once a request whose answer is to be lost went upstream
        held = asyncio.Event()  # set once a request whose answer is to be held went upstream

        async def requests() -> None:
            while data := await reader.read(65536):
                if self._armed is not None and self._armed in data:
                    self._armed = None
                    cut.set()
                if self._hold is not None and self._hold in data:
                    self._hold = None
                    held.set()
                up_writer.write(data)
                await up_writer.drain()

        async def answers() -> None:
            while data := await up_reader.read(65536):
                if cut.is_set():  # Redis has run it: the client never hears back
                    self.lost += 1
                    self.down = self._down_after
                    return
                if held.is_set():  # Redis has run it: the client hears when released
                    await self.released.wait()
                    held.clear()
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.create_task(requests()), asyncio.create_task(answers())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        self._open.discard(writer)
        for w in (writer, up_writer):
            w.close()
            with contextlib.suppress(Exception):
                await w.wait_closed()
