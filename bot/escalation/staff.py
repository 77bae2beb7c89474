"""The staff channel, as escalation sees it; Slack and DingTalk implement it."""

from __future__ import annotations

from typing import Protocol

from bot.escalation.tickets import Ticket


class StaffChannel(Protocol):
    """Where agents see tickets and talk about them."""

    async def post_ticket(self, ticket: Ticket) -> str:
        """Post the ticket card with a Claim button; returns the thread reference."""

    async def post(self, ticket: Ticket, text: str) -> None:
        """Say something in the ticket's thread."""

    async def update(self, ticket: Ticket) -> None:
        """Refresh the ticket card (status, owner)."""
