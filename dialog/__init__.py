"""The dialog engine: declarative flows, slots, FAQ, templates."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.brain import Brain, EchoBrain

if TYPE_CHECKING:
    from bot.runtime import Runtime


def build_brain(runtime: Runtime) -> Brain:
    """The bot-mode brain for ``runtime`` (NLU, then dialog)."""
    return EchoBrain()
