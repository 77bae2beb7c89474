"""A platform plug-in, as the core sees it: its channel, its limits, its registry entry.

Each package under ``adapters/`` declares one :class:`Platform` (its settings
model, when it is enabled, how to build its channel, and its staff-channel side
where it has one); ``adapters/registry.py`` lists them. The core reads platforms
only through these types, so adding one never changes a core file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from starlette.routing import BaseRoute

from bot.outbound import Outbound
from bot.settings import PlatformSettings, RateLimitRule

if TYPE_CHECKING:
    from bot.escalation.staff import AttachableStaff
    from bot.host import Host


@dataclass(frozen=True, slots=True)
class Limits:
    """What a platform lets a bot send.

    ``send_pace`` paces sends per destination across replicas (Slack: about one
    message a second per channel). ``reply_window_s`` and ``reply_quota``: a
    proactive message reaches a user only that long after their last message,
    and only that many times per message (WeChat: 48 hours, 5).
    """

    send_pace: RateLimitRule | None = None
    reply_window_s: float | None = None
    reply_quota: int | None = None


class Channel(Protocol):
    """One platform's adapter: its webhook routes, its sender, its connections, its limits.

    A channel is built with its :class:`~bot.host.Host` (how it reaches the
    pipeline and the shared state), so it never sees the runtime. ``routes`` are
    mounted on the app; ``start`` opens long-lived connections (Slack Socket
    Mode, the DingTalk stream) and ``stop`` closes them cleanly.
    """

    @property
    def name(self) -> str:
        """The platform name, e.g. ``wechat``."""

    @property
    def outbound(self) -> Outbound:
        """This platform's sender."""

    @property
    def limits(self) -> Limits:
        """What the platform lets a bot send (pace, reply window, quota)."""

    def routes(self) -> list[BaseRoute]:
        """HTTP routes this channel serves (may be empty)."""

    async def start(self) -> None:
        """Open connections; called once the runtime is up.

        Only in the workers of ``bot serve --workers`` that own the replica's stream
        connections (``STREAM_WORKERS``, default the first): whatever every worker
        needs belongs in the constructor. ``stop`` is called in every worker.
        """

    async def stop(self) -> None:
        """Close connections; called on shutdown."""


# (the id after ``kind:`` in ESCALATION_CHANNEL, the process's host for the staff side,
#  the platform's own channel, None for a staff channel that is no platform)
StaffBuilder = Callable[[str, "Host", "Channel | None"], "AttachableStaff"]


@dataclass(frozen=True, slots=True)
class StaffSide:
    """A staff channel for escalation, named in ``ESCALATION_CHANNEL`` as ``kind`` or ``kind:id``.

    ``id_hint`` says what the id is (``channel id``); empty, the kind takes no id
    (the agent console). ``title`` is how staff texts name the channel ("alice (in
    Slack)"); empty, the kind capitalised. ``build`` is called only for a named,
    usable kind, and imports the platform's SDK itself.
    """

    build: StaffBuilder
    id_hint: str = ""
    title: str = ""


S = TypeVar("S", bound=PlatformSettings)


@dataclass(frozen=True)
class Platform(Generic[S]):
    """One registry entry: everything the core needs to run a platform.

    ``settings`` is the platform's own settings model (its env prefix, e.g.
    ``WECHAT_``); ``enabled`` says whether those settings switch it on (its
    credentials are set); ``build`` makes the channel, importing the SDK only then.
    """

    name: str
    settings: type[S]
    enabled: Callable[[S], bool]
    build: Callable[[S, Host], Channel]
    staff: StaffSide | None = None
