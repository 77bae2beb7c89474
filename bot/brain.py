"""What answers in bot mode, and what takes over in human mode.

The pipeline knows two roles by their interfaces only:

* :class:`Brain` answers a turn in bot mode (NLU, then the dialog engine);
* :class:`Handoff` opens tickets and relays in human mode (escalation).

The fallbacks here keep the core usable on its own: :class:`EchoBrain`
repeats the message, and :class:`NoHandoff` tells the customer no agent is set up.
"""

from __future__ import annotations

import logging
from typing import Protocol

from bot.texts import text
from bot.turn import Turn

log = logging.getLogger(__name__)


class Brain(Protocol):
    """Decides what the bot says; fills ``turn.replies`` and may set ``turn.escalation``."""

    async def respond(self, turn: Turn) -> None:
        """Answer one turn in bot mode."""


class Handoff(Protocol):
    """Human escalation as the pipeline sees it."""

    async def open_ticket(self, turn: Turn, reason: str) -> None:
        """Open a ticket for this conversation and tell the customer."""

    async def relay_to_agent(self, turn: Turn) -> None:
        """Forward a customer message to the agent who owns the conversation."""

    async def take_rating(self, turn: Turn) -> bool:
        """Bot mode, right after a resolve (``context.state["rate_ticket"]`` set): record a
        1-5 answer to the satisfaction question and return True, else False (the bot answers)."""


class EchoBrain:
    """A trivial brain: echoes text. For benchmarks and for the core on its own."""

    async def respond(self, turn: Turn) -> None:
        """Echo the text back."""
        turn.say(text("echo", turn.lang, text=turn.message.text))


class NoHandoff:
    """Used when no staff channel is usable: no ticket, and no promise of a person."""

    def __init__(self, why: str = "no ESCALATION_CHANNEL is set", contact: str = "") -> None:
        self.why = why
        self.contact = contact

    async def open_ticket(self, turn: Turn, reason: str) -> None:
        """Say honestly that nobody can take over here (and how to reach a person, if set)."""
        log.warning(
            "escalation requested but %s; the customer was told no agent can be reached",
            self.why,
            extra={"conversation": turn.conversation, "reason": reason},
        )
        turn.say(text("no_agents", turn.lang))
        if self.contact:
            turn.say(text("no_agents_contact", turn.lang, contact=self.contact))

    async def take_rating(self, turn: Turn) -> bool:
        """No tickets, no ratings: the bot answers."""
        return False

    async def relay_to_agent(self, turn: Turn) -> None:
        """Nothing to relay to; hand the conversation back to the bot."""
        if turn.context is not None:
            turn.context.mode = "bot"
            turn.context.ticket_id = None
