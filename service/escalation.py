"""Which staff channels a process runs: ``ESCALATION_CHANNEL``, parsed here and only here."""

from __future__ import annotations

import logging

from adapters.registry import STAFF_DESKS
from bot.brain import Handoff, NoHandoff
from bot.channels import Channel
from bot.escalation import StaffTarget, open_desk, parse_escalation_channels
from bot.escalation.staff import AttachableStaff
from bot.runtime import Runtime
from service.plugins import staff_kinds, staff_sides, staff_titles

log = logging.getLogger(__name__)


def staff_targets(setting: str | None) -> list[StaffTarget]:
    """``ESCALATION_CHANNEL`` against the registry's staff kinds (``ValueError`` if wrong)."""
    return parse_escalation_channels(setting, staff_kinds())


def build_handoff(runtime: Runtime) -> Handoff:
    """The handoff for ``runtime``: tickets in the ``ESCALATION_CHANNEL`` staff channels."""
    setting, contact = runtime.settings.escalation_channel, runtime.settings.escalation_contact
    try:
        targets = staff_targets(setting)
    except ValueError as exc:
        log.error("ESCALATION_CHANNEL is not usable: %s", exc)
        return NoHandoff(f"ESCALATION_CHANNEL {setting!r} is not usable: {exc}", contact)
    usable = [t for t in targets if _usable(runtime, t)]
    if not usable:
        why = (
            f"no usable staff channel in {setting!r}" if targets else "ESCALATION_CHANNEL is empty"
        )
        return NoHandoff(why, contact)
    return open_desk(runtime, [_staff(runtime, t) for t in usable], staff_titles())


def _usable(runtime: Runtime, target: StaffTarget) -> bool:
    """A platform's staff side needs that platform enabled (a staff desk always works)."""
    if target.kind in STAFF_DESKS or _channel(runtime, target.kind) is not None:
        return True
    log.error(
        "ESCALATION_CHANNEL %s is not usable: %s is not enabled (set its credentials)",
        target,
        target.kind,
    )
    return False


def _staff(runtime: Runtime, target: StaffTarget) -> AttachableStaff:
    """The staff-channel implementation of ``target``, from its plug-in."""
    side = staff_sides()[target.kind]
    return side.build(target.target, runtime.host(target.kind), _channel(runtime, target.kind))


def _channel(runtime: Runtime, name: str) -> Channel | None:
    return next((c for c in runtime.channels if c.name == name), None)
