"""Sending to platforms, as the core sees it: capabilities and a registry.

Each adapter provides an :class:`Outbound` for its platform. The core never
imports a platform SDK; it looks senders up by ``Address.platform`` here, for
replies, escalation relays and timers alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bot.errors import DeliveryError
from bot.models import Address, Reply


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can render or do; replies degrade to what is there."""

    passive_reply: bool = False  # answer inside the webhook's HTTP response
    threads: bool = False
    buttons: bool = False
    cards: bool = False
    proactive_send: bool = True  # send later, outside a webhook (relays, timers)


@dataclass(frozen=True, slots=True)
class SendAllowance:
    """How long, and how many times, a proactive send can still reach one user."""

    closes_at: float  # epoch seconds; the window reopens when the user writes again
    remaining: int  # sends left before the user writes again


@runtime_checkable
class LimitedSends(Protocol):
    """A platform whose proactive sends are limited per user (WeChat's 48-hour window)."""

    async def allowance(self, address: Address) -> SendAllowance:
        """What ``address`` can still be sent now, without sending anything."""


@runtime_checkable
class Outbound(Protocol):
    """An adapter's sender for one platform."""

    platform: str
    capabilities: Capabilities

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send ``replies`` to ``address`` in order; raise :class:`DeliveryError` on failure."""


class OutboundRegistry:
    """Senders by platform name."""

    def __init__(self) -> None:
        self._senders: dict[str, Outbound] = {}

    def register(self, sender: Outbound) -> None:
        """Add (or replace) the sender of ``sender.platform``."""
        self._senders[sender.platform] = sender

    def platforms(self) -> list[str]:
        """Names of the platforms that can be sent to."""
        return list(self._senders)

    def get(self, platform: str) -> Outbound:
        """The sender for ``platform``; :class:`DeliveryError` if it is not enabled."""
        try:
            return self._senders[platform]
        except KeyError:
            raise DeliveryError(
                f"platform {platform!r} is not enabled", platform=platform
            ) from None

    async def allowance(self, address: Address) -> SendAllowance | None:
        """What ``address`` can still be sent, if its platform limits sends (else None)."""
        sender = self._senders.get(address.platform)
        if not isinstance(sender, LimitedSends):
            return None
        return await sender.allowance(address)

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Send through the address's own platform (a :class:`ReplySink`)."""
        await self.get(address.platform).deliver(address, replies)
