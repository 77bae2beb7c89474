"""Which staff channels a process runs: ``ESCALATION_CHANNEL`` against the enabled channels."""

from __future__ import annotations

import logging

from bot.brain import Handoff, NoHandoff
from bot.escalation import StaffTarget, open_desk, parse_escalation_channels
from bot.escalation.staff import AttachableStaff
from bot.runtime import Runtime

log = logging.getLogger(__name__)


def build_handoff(runtime: Runtime) -> Handoff:
    """The handoff for ``runtime``: tickets in the ``ESCALATION_CHANNEL`` staff channels."""
    setting, contact = runtime.settings.escalation_channel, runtime.settings.escalation_contact
    try:
        targets = parse_escalation_channels(setting)
    except ValueError as exc:
        log.error("ESCALATION_CHANNEL is not usable: %s", exc)
        return NoHandoff(f"ESCALATION_CHANNEL {setting!r} is not usable: {exc}", contact)
    usable = [t for t in targets if _usable(runtime, t)]
    if not usable:
        why = (
            f"no usable staff channel in {setting!r}" if targets else "ESCALATION_CHANNEL is empty"
        )
        return NoHandoff(why, contact)
    return open_desk(runtime, [_staff(runtime, t) for t in usable])


def _usable(runtime: Runtime, target: StaffTarget) -> bool:
    """A platform staff channel needs that platform enabled (the console always works)."""
    if target.kind == "console" or any(c.name == target.kind for c in runtime.channels):
        return True
    log.error(
        "ESCALATION_CHANNEL %s is not usable: %s is not enabled (set its credentials)",
        target,
        target.kind,
    )
    return False


def _staff(runtime: Runtime, target: StaffTarget) -> AttachableStaff:
    """The staff-channel implementation of ``target`` (imported lazily: each has its SDK)."""
    if target.kind == "console":
        from adapters.agent_console import build_console

        return build_console(runtime)
    channel = next(c for c in runtime.channels if c.name == target.kind)
    if target.kind == "dingtalk":
        from adapters.dingtalk.staff import DingTalkStaff

        return DingTalkStaff(channel, target.target)  # type: ignore[arg-type]
    from adapters.slack.staff import SlackStaff

    return SlackStaff(channel, target.target)  # type: ignore[arg-type]
