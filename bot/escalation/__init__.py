"""Human escalation: tickets, the staff channels, claims, relays and timers.

``ESCALATION_CHANNEL`` names the staff channels, comma-separated: ``console``
(the built-in web console at ``/agent``, the default), or a platform's staff
side as ``<platform>:<id>``, e.g. ``slack:C0123`` (that Slack channel) and
``dingtalk:cidXXX`` (that DingTalk group); the platform must be enabled. The
kinds come from the plug-ins' registry (``adapters/registry.py``).
``console,slack:C0123`` shows every ticket in both, and a claim in one shows
in the other: they share one ticket store and one claim script.
An empty value means no staff channel: :class:`~bot.brain.NoHandoff` then
tells customers honestly that no agent can be reached. Which staff channels a
process runs is decided by the composition root (``service/escalation.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.escalation.handoff import EscalationHandoff, TimerPolicy
    from bot.escalation.staff import AttachableStaff
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StaffTarget:
    """One staff channel of ``ESCALATION_CHANNEL``: its kind and, for a platform, its id."""

    kind: str
    target: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


def parse_escalation_channels(value: str | None, kinds: Mapping[str, str]) -> list[StaffTarget]:
    """The staff channels named by ``value``; ``ValueError`` says in one line what is wrong.

    ``kinds`` maps each known kind to what its id is (``channel id``), or to ""
    for a kind that takes no id (the console); the registry supplies it. Each
    kind may appear once: a ticket keeps one thread reference, and each platform
    has one staff target.
    """
    if value is None or value.strip().lower() in ("", "none", "off"):
        return []
    targets: list[StaffTarget] = []
    for item in (part.strip() for part in value.split(",")):
        kind, sep, target = (s.strip() for s in item.partition(":"))
        kind = kind.lower()
        if kind not in kinds:
            known = " or ".join(f"{k}:<{h}>" if h else k for k, h in kinds.items())
            raise ValueError(f"unknown staff channel {item!r} (use {known})")
        if not kinds[kind] and (sep or target):
            raise ValueError(f"{item!r}: {kind} takes no id")
        if kinds[kind] and not target:
            raise ValueError(f"{item!r}: {kind} needs an id, as in {kind}:<{kinds[kind]}>")
        if any(t.kind == kind for t in targets):
            raise ValueError(f"{kind} is named twice in {value!r}")
        targets.append(StaffTarget(kind, target))
    return targets


def open_desk(
    runtime: Runtime,
    staffs: Sequence[AttachableStaff],
    titles: Mapping[str, str] | None = None,
) -> EscalationHandoff:
    """Tickets in Redis, shown in ``staffs``: the desk attached and the ticket timers running.

    The composition root chooses the staff channels (``service/escalation.py``) and
    gives their ``titles`` (kind -> name in texts, from the plug-ins); everything
    from here on is the same whichever they are.
    """
    from bot.brain import NoHandoff
    from bot.escalation.desk import Desk
    from bot.escalation.handoff import EscalationHandoff
    from bot.escalation.staff import StaffChannels
    from bot.escalation.tickets import TicketStore
    from bot.escalation.timers import Timers

    staff = StaffChannels(staffs)
    timers = Timers(runtime.redis, runtime.keys)
    handoff = EscalationHandoff(
        tickets=TicketStore(runtime.redis, runtime.keys),
        staff=staff,
        records=runtime.records,
        timers=timers,
        policy=timer_policy(runtime),
        transcript_lines=runtime.settings.escalation_transcript_lines,
        mask=runtime.settings.escalation_mask_pii,
        satisfaction=runtime.settings.escalation_satisfaction,
        nobody=NoHandoff(
            "no staff channel has anyone to see tickets (no agent console account: "
            "`bot agents add NAME`)",
            runtime.settings.escalation_contact,
        ),
    )
    desk = Desk(runtime, handoff, titles)
    staff.attach(desk)
    timers.handler = desk.on_timer
    runtime.add_service("ticket-timers", start=timers.start, stop=timers.stop)
    return handoff


def timer_policy(runtime: Runtime) -> TimerPolicy:
    """The timer settings as one policy object."""
    from bot.escalation.handoff import TimerPolicy
    from bot.escalation.timers import BusinessHours

    s = runtime.settings
    return TimerPolicy(
        unclaimed_min=s.escalation_unclaimed_min,
        agent_idle_min=s.escalation_agent_idle_min,
        customer_idle_min=s.escalation_customer_idle_min,
        window_warn_min=s.escalation_window_warn_min,
        wait_min=s.escalation_wait_min,
        hours=BusinessHours(s.business_hours, s.business_timezone),
        hours_text=f"{s.business_hours} {s.business_timezone}",
        windows={
            c.name: c.limits.reply_window_s
            for c in runtime.channels
            if c.limits.reply_window_s is not None
        },
    )
