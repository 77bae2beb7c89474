"""Shared stand-ins of the escalation scenarios."""

from __future__ import annotations

from bot.turn import Turn


class Brain:
    """Stands in for the dialog: asks for a human on 转人工, else echoes."""

    async def respond(self, turn: Turn) -> None:
        if turn.message.text == "转人工":
            turn.escalation = "human_agent"
        else:
            turn.say(f"bot:{turn.message.text}")
