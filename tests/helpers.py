"""Test doubles of *outside* things only (a platform that records what it got)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio as aioredis

from bot.channels import Limits
from bot.models import Address, InboundMessage, MessageKind, Reply
from bot.outbound import Capabilities
from bot.runtime import Runtime


class RecordingOutbound:
    """A platform sender that records every delivery, standing in for a platform."""

    capabilities = Capabilities(buttons=True)

    def __init__(self, platform: str = "test") -> None:
        self.platform = platform
        self.sent: list[tuple[Address, Reply]] = []
        self.changed = asyncio.Event()

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        for reply in replies:
            self.sent.append((address, reply))
        self.changed.set()

    def texts(self, conversation_id: str | None = None) -> list[str]:
        return [r.text for a, r in self.sent if conversation_id in (None, a.conversation_id)]


class RecordingChannel:
    """A channel with no routes and no limits whose sender records deliveries."""

    limits = Limits()

    def __init__(self, platform: str = "test") -> None:
        self.name = platform
        self.outbound = RecordingOutbound(platform)

    def routes(self) -> list:
        return []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def message(
    text: str,
    *,
    mid: str,
    user: str = "u1",
    conversation: str | None = None,
    platform: str = "test",
    kind: MessageKind = MessageKind.TEXT,
) -> InboundMessage:
    """An inbound message as an adapter would build it."""
    address = Address(
        platform=platform, conversation_id=conversation or user, user_id=user, account="acct"
    )
    return InboundMessage(platform=platform, message_id=mid, address=address, text=text, kind=kind)


async def until(predicate: Callable[[], bool | Awaitable[bool]], seconds: float = 30.0) -> None:
    """Wait until ``predicate()`` holds (platforms answer in the background or another thread).

    The predicate may be a coroutine function (e.g. a Redis query). ``seconds`` is only
    a guard against a hang: a test passes as soon as the condition holds, so it is
    generous, for a loaded machine where everything is slow.
    """
    deadline = time.monotonic() + seconds
    while not await _holds(predicate):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def _holds(predicate: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = predicate()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


async def settled(*runtimes: Runtime) -> None:
    """Wait until the runtimes' background work (turns, sends) has ended, and insist on it.

    ``Runtime.drain`` gives up silently after its budget; a test that then asserts on
    what was sent would depend on the machine being fast enough.
    """
    for runtime in runtimes:
        assert await runtime.drain(timeout_s=60) == 0, "background work still running"


async def command_calls(redis: aioredis.Redis, command: str) -> int:
    """How many times Redis has run ``command`` (lower case), inside scripts too (INFO)."""
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))
