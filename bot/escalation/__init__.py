"""Human escalation: tickets, the staff channel, claims, relays and timers.

``ESCALATION_CHANNEL=slack:C0123`` puts tickets in that Slack channel,
``dingtalk:cidXXX`` in that DingTalk group (the platform must be enabled).
Without it, :class:`~bot.brain.NoHandoff` tells customers that no agent is
available.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.brain import Handoff, NoHandoff

if TYPE_CHECKING:
    from adapters.dingtalk.staff import DingTalkStaff
    from adapters.slack.staff import SlackStaff
    from bot.escalation.handoff import TimerPolicy
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def build_handoff(runtime: Runtime) -> Handoff:
    """The handoff for ``runtime``: tickets in ``ESCALATION_CHANNEL``, or none."""
    setting = runtime.settings.escalation_channel
    if not setting:
        return NoHandoff()
    platform, _, target = setting.partition(":")
    channel = next((c for c in runtime.channels if c.name == platform), None)
    if platform not in ("slack", "dingtalk") or channel is None or not target:
        log.error(
            "ESCALATION_CHANNEL %s is not usable (staff channels: slack:<channel id> or "
            "dingtalk:<group conversation id>, with that platform enabled); escalations will "
            "tell customers no agent is available",
            setting,
        )
        return NoHandoff()
    from bot.escalation.desk import Desk
    from bot.escalation.handoff import EscalationHandoff
    from bot.escalation.tickets import TicketStore
    from bot.escalation.timers import Timers

    prefix = runtime.settings.redis_prefix
    staff = _staff(platform, channel, target)
    timers = Timers(runtime.redis, prefix)
    handoff = EscalationHandoff(
        tickets=TicketStore(runtime.redis, prefix),
        staff=staff,
        records=runtime.records,
        timers=timers,
        policy=timer_policy(runtime),
        transcript_lines=runtime.settings.escalation_transcript_lines,
        mask=runtime.settings.escalation_mask_pii,
        satisfaction=runtime.settings.escalation_satisfaction,
    )
    desk = Desk(runtime, handoff)
    staff.attach(desk)
    timers.handler = desk.on_timer
    runtime.add_service("ticket-timers", start=timers.start, stop=timers.stop)
    return handoff


def _staff(platform: str, channel: object, target: str) -> SlackStaff | DingTalkStaff:
    """The staff-channel implementation for ``platform`` (imported lazily: the core has no SDK)."""
    if platform == "dingtalk":
        from adapters.dingtalk.staff import DingTalkStaff

        return DingTalkStaff(channel, target)  # type: ignore[arg-type]
    from adapters.slack.staff import SlackStaff

    return SlackStaff(channel, target)  # type: ignore[arg-type]


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
    )
