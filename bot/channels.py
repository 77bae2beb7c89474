"""The inbound side of an adapter, as the app composes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from starlette.routing import BaseRoute

from bot.outbound import Outbound

if TYPE_CHECKING:
    from bot.runtime import Runtime


class Channel(Protocol):
    """One platform's adapter: its webhook routes, its sender, its connections.

    ``routes`` are mounted on the app; ``start`` opens long-lived connections
    (Slack Socket Mode, the DingTalk stream) and ``stop`` closes them cleanly.
    """

    @property
    def name(self) -> str:
        """The platform name, e.g. ``wechat``."""

    @property
    def outbound(self) -> Outbound:
        """This platform's sender."""

    def routes(self) -> list[BaseRoute]:
        """HTTP routes this channel serves (may be empty)."""

    async def start(self, runtime: Runtime) -> None:
        """Open connections; called once the runtime is up."""

    async def stop(self) -> None:
        """Close connections; called on shutdown."""
