"""Human escalation: tickets, the staff channel, claims and relays.

``ESCALATION_CHANNEL=slack:C0123`` puts tickets in that Slack channel (the
Slack channel must be enabled). Without it, :class:`~bot.brain.NoHandoff`
tells customers that no agent is available.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.brain import Handoff, NoHandoff

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def build_handoff(runtime: Runtime) -> Handoff:
    """The handoff for ``runtime``: tickets in ``ESCALATION_CHANNEL``, or none."""
    setting = runtime.settings.escalation_channel
    if not setting:
        return NoHandoff()
    platform, _, target = setting.partition(":")
    channel = next((c for c in runtime.channels if c.name == platform), None)
    if platform != "slack" or channel is None or not target:
        log.error(
            "ESCALATION_CHANNEL %s is not usable (staff channels: slack:<channel id> with Slack "
            "enabled); escalations will tell customers no agent is available",
            setting,
        )
        return NoHandoff()
    from adapters.slack.staff import SlackStaff
    from bot.escalation.desk import Desk
    from bot.escalation.handoff import EscalationHandoff
    from bot.escalation.tickets import TicketStore

    staff = SlackStaff(channel, target)  # type: ignore[arg-type]
    handoff = EscalationHandoff(
        tickets=TicketStore(runtime.redis, runtime.settings.redis_prefix),
        staff=staff,
        records=runtime.records,
    )
    staff.attach(Desk(runtime, handoff))
    return handoff
