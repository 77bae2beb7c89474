"""Human escalation: tickets, the staff channel, claims, relays and timers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.brain import Handoff, NoHandoff

if TYPE_CHECKING:
    from bot.runtime import Runtime


def build_handoff(runtime: Runtime) -> Handoff:
    """The handoff for ``runtime``: tickets in ``ESCALATION_CHANNEL``, or none."""
    return NoHandoff()
