"""The staff channel, as escalation sees it; Slack, DingTalk and the agent console implement it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from bot.escalation.texts import STAFF
from bot.escalation.tickets import Ticket

if TYPE_CHECKING:
    from bot.escalation.desk import Desk

log = logging.getLogger(__name__)


class StaffChannel(Protocol):
    """Where agents see tickets and talk about them."""

    async def post_ticket(self, ticket: Ticket) -> str:
        """Post the ticket card with a Claim button; returns the thread reference.

        Only a channel with threads (Slack) returns one; the others return "".
        """

    async def post(self, ticket: Ticket, text: str) -> None:
        """Say something in the ticket's thread."""

    async def update(self, ticket: Ticket) -> None:
        """Refresh the ticket card (status, owner)."""


@runtime_checkable
class Staffed(Protocol):
    """A staff channel that can tell whether anyone could see a ticket posted there now.

    The agent console can: with no agent account, nobody can sign in to it, and a
    ticket there would promise the customer a person who cannot exist. A Slack
    channel or a DingTalk group cannot tell, and counts as seen.
    """

    async def staffed(self) -> bool:
        """Whether anyone could see a ticket posted here now."""


@dataclass(frozen=True, slots=True)
class AgentWords:
    """What an agent wrote about a ticket, in any staff channel: a reply or an internal note."""

    agent: str  # the id tickets use (``console:alice``, a Slack or DingTalk user id)
    agent_name: str
    text: str
    note: bool
    via: str  # the kind of staff channel it was written in: console, slack, dingtalk, ...
    via_title: str = ""  # how texts name that channel (its StaffSide.title), when it has one


@runtime_checkable
class ShowsAgentWords(Protocol):
    """A staff channel that shows what agents wrote, wherever they wrote it.

    The console keeps its own thread, so it shows everything, its own agents'
    words included. Slack and DingTalk show what was typed there already; they
    show only what was written in another staff channel, so agents there see
    what a console agent answered.
    """

    async def agent_said(self, ticket: Ticket, words: AgentWords) -> None:
        """Show ``words`` in the ticket's thread (unless this channel shows them already)."""


def written_elsewhere(words: AgentWords) -> str:
    """How a platform staff channel shows ``words`` written in another staff channel."""
    key = "agent_note" if words.note else "agent_reply"
    via = words.via_title or words.via.capitalize()
    return STAFF[key].format(agent=words.agent_name, via=via, text=words.text)


class AttachableStaff(StaffChannel, Protocol):
    """A staff channel whose agent actions go to the shared :class:`Desk`."""

    def attach(self, desk: Desk) -> None:
        """Route the agents' actions in this channel to ``desk``."""


_S = TypeVar("_S", bound=AttachableStaff)


class StaffChannels:
    """Several staff channels as one: everything is shown in each of them.

    A claim, a reply or a resolve made in one channel goes through the one
    :class:`Desk`, whose posts and card updates then reach every channel, so
    all of them show the same ticket state. A channel that fails does not keep
    the others from showing the ticket.
    """

    def __init__(self, channels: Sequence[AttachableStaff]) -> None:
        self.channels = list(channels)

    async def post_ticket(self, ticket: Ticket) -> str:
        refs = [await self._each(lambda c: c.post_ticket(ticket), c) for c in self.channels]
        # each kind appears once in ESCALATION_CHANNEL, and only Slack has threads
        return next((r for r in refs if r), "")

    async def post(self, ticket: Ticket, text: str) -> None:
        for channel in self.channels:
            await self._each(lambda c: c.post(ticket, text), channel)

    async def update(self, ticket: Ticket) -> None:
        for channel in self.channels:
            await self._each(lambda c: c.update(ticket), channel)

    async def agent_said(self, ticket: Ticket, words: AgentWords) -> None:
        for channel in self.channels:
            if isinstance(channel, ShowsAgentWords):
                await self._each(lambda c: c.agent_said(ticket, words), channel)

    def attach(self, desk: Desk) -> None:
        for channel in self.channels:
            channel.attach(desk)

    async def staffed(self) -> bool:
        """Whether any of the channels could show a ticket to someone now."""
        for channel in self.channels:
            if not isinstance(channel, Staffed) or await channel.staffed():
                return True
        return False

    async def _each(self, act: Callable[[_S], Awaitable[str | None]], channel: _S) -> str:
        if len(self.channels) == 1:
            return await act(channel) or ""  # alone, its failure is the ticket's failure
        try:
            return await act(channel) or ""
        except Exception:
            log.exception("staff channel failed", extra={"staff": type(channel).__name__})
            return ""
