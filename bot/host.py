"""What a platform plug-in may use of the process it runs in: the narrow host interface.

A plug-in (``adapters/<platform>``) gets one :class:`Host`, bound to its platform
name, when it is built; never the whole :class:`~bot.runtime.Runtime`. Through it,
it submits inbound messages and waits for their turns within a budget, delivers
replies, paces its sends, reads and writes shared state in Redis (tokens, windows,
dedupe markers, always under :class:`~bot.keys.Keys`), and serves extra routes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from functools import partial
from typing import Any, Protocol

import redis.asyncio as aioredis
from starlette.routing import BaseRoute

from bot.keys import Keys
from bot.late import LateRetries
from bot.models import Address, InboundMessage, Reply
from bot.outbound import OutboundRegistry, SendAllowance
from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.stores.context import ContextStore
from bot.stores.dedupe import Deduper
from bot.stores.throttle import OutboundThrottle
from bot.turn import ReplySink, Turn

Hook = Callable[[], Awaitable[None]]


class Core(Protocol):
    """The parts of a runtime a :class:`Host` stands in front of (``Runtime`` has them)."""

    settings: Settings
    redis: aioredis.Redis
    keys: Keys
    contexts: ContextStore
    deduper: Deduper
    pipeline: Pipeline
    outbound: OutboundRegistry
    throttle: OutboundThrottle
    late: LateRetries

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str = "turn", turn: bool = False
    ) -> asyncio.Task[Any]: ...

    def admit(self, platform: str) -> bool: ...

    async def settle(self, tasks: Sequence[asyncio.Task[Turn]], budget_s: float) -> bool: ...

    def add_routes(self, routes: Sequence[BaseRoute]) -> None: ...

    def add_service(self, name: str, *, start: Hook, stop: Hook) -> None: ...


class Host:
    """One platform's view of the bot process."""

    def __init__(self, core: Core, platform: str) -> None:
        self._core = core
        self.platform = platform
        self.settings: Settings = core.settings  # the process-wide settings (limits, prefix)
        self.redis: aioredis.Redis = core.redis  # shared by every replica
        self.keys: Keys = core.keys  # every key is built here
        self.contexts: ContextStore = core.contexts
        self.deduper: Deduper = core.deduper
        # turns running now, with what they answer: an acknowledged one may need a rerun
        self._running: dict[asyncio.Task[Turn], tuple[InboundMessage, ReplySink]] = {}

    # -- inbound ----------------------------------------------------------------

    def admit(self) -> bool:
        """Whether this replica takes another message now (a refusal is counted).

        Refused, the adapter answers so that the platform delivers it again later
        (a 503, or no ack), here or on another replica.
        """
        return self._core.admit(self.platform)

    def submit(self, message: InboundMessage, sink: ReplySink) -> asyncio.Task[Turn]:
        """Run ``message``'s turn in the background; its replies go to ``sink``."""
        task = self._core.spawn(
            self._core.pipeline.handle(message, sink), name=f"{self.platform}-turn", turn=True
        )
        self._running[task] = (message, sink)
        task.add_done_callback(self._running.pop)
        return task

    async def settle(self, tasks: Sequence[asyncio.Task[Turn]], budget_s: float) -> bool:
        """Wait up to ``budget_s`` for turns; True if one ended asking for a redelivery.

        Otherwise the adapter acknowledges the message, and turns still running are
        :meth:`acknowledged`: if one fails later, it is run again here.
        """
        retry = await self._core.settle(tasks, budget_s)
        if not retry:
            self.acknowledged(tasks)
        return retry

    def acknowledged(self, tasks: Sequence[asyncio.Task[Turn]]) -> None:
        """The platform was told these turns' messages arrived and will not deliver them
        again: one still running that fails is run again by this replica (:mod:`bot.late`)."""
        for task in tasks:
            entry = self._running.get(task)
            if entry is not None and not task.done():
                self._core.late.keep(task, partial(self.submit, *entry))

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Other background work (a staff command), tracked so shutdown drains it."""
        return self._core.spawn(coro, name=name)

    # -- outbound ---------------------------------------------------------------

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send through ``address``'s own platform."""
        await self._core.outbound.deliver(address, replies)

    async def allowance(self, address: Address) -> SendAllowance | None:
        """What ``address`` can still be sent, where its platform limits sends."""
        return await self._core.outbound.allowance(address)

    async def pace(self, destination: str) -> float:
        """Wait for this platform's send pace to ``destination``; seconds waited."""
        return await self._core.throttle.wait(self.platform, destination)

    # -- extras -----------------------------------------------------------------

    def add_routes(self, routes: Sequence[BaseRoute]) -> None:
        """Serve ``routes`` too (a staff side with pages of its own: the agent console)."""
        self._core.add_routes(routes)

    def add_service(self, name: str, *, start: Hook, stop: Hook) -> None:
        """Run ``start`` when the process starts and ``stop`` when it stops."""
        self._core.add_service(name, start=start, stop=stop)
