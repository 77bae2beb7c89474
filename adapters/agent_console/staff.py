"""The agent console as a staff channel: the same seam as Slack and DingTalk.

The :class:`bot.escalation.desk.Desk` posts here what it posts in a Slack
thread; each post becomes an entry of the ticket's console thread, and each
card update becomes a live queue update. Posts are recognised by the desk's
own templates (``bot/escalation/texts.py``, one place for the texts), so the
browser can show them in Chinese or English: customer messages as chat
bubbles, timer warnings as notices. What agents write, here or in another
staff channel, arrives through :meth:`ConsoleStaff.agent_said`.
"""

from __future__ import annotations

import re
from typing import Any

from adapters.agent_console.agents import AgentStore
from adapters.agent_console.feed import ConsoleFeed
from adapters.agent_console.views import row
from bot.escalation.desk import Desk
from bot.escalation.staff import AgentWords
from bot.escalation.texts import STAFF
from bot.escalation.tickets import Ticket

NOTICE_KEYS = (
    "unclaimed",
    "agent_idle",
    "window",
    "auto_resolved",
    "delivery_failed",
    "after_hours",
)
# Slack mentions in the desk's texts mean nothing in the console
_MENTION = re.compile(r"<@([^>]+)>")


def _pattern(template: str) -> re.Pattern[str]:
    """A desk template as a regex; each placeholder a named group (a repeat must match again)."""
    regex, seen = "", set()
    for i, part in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2 == 0:
            regex += re.escape(part)
        else:
            regex += f"(?P={part})" if part in seen else f"(?P<{part}>.*?)"
            seen.add(part)
    return re.compile(regex, re.DOTALL)


PATTERNS = {key: _pattern(template) for key, template in STAFF.items()}


def classify(text: str) -> dict[str, Any]:
    """A desk post as a thread entry: its kind, the template key and the values."""
    for key, pattern in PATTERNS.items():
        match = pattern.fullmatch(text)
        if match:
            values = {k: _MENTION.sub(r"\1", v) for k, v in match.groupdict().items()}
            if key == "customer_says":
                return {"kind": "customer", "text": values["text"]}
            kind = "notice" if key in NOTICE_KEYS else "system"
            return {"kind": kind, "key": key, "values": values, "text": _MENTION.sub(r"\1", text)}
    return {"kind": "system", "text": _MENTION.sub(r"\1", text)}


class ConsoleStaff:
    """:class:`bot.escalation.staff.StaffChannel` for the web console at ``/agent``."""

    def __init__(self, feed: ConsoleFeed, agents: AgentStore) -> None:
        self.feed = feed
        self.agents = agents
        self.desk: Desk | None = None

    async def staffed(self) -> bool:
        """Whether any agent account exists: without one, nobody can sign in to see tickets."""
        return await self.agents.any()

    async def post_ticket(self, ticket: Ticket) -> str:
        await self.feed.append(
            ticket.id, {"kind": "system", "key": "opened", "text": ticket.reason}
        )
        await self.update(ticket)
        return ""  # tickets are addressed by id here, not by a thread reference

    async def post(self, ticket: Ticket, text: str) -> None:
        entry = classify(text)
        await self.feed.append(ticket.id, entry)
        if entry["kind"] == "customer" or entry.get("key") == "rated":
            await self.update(ticket)  # the preview or the score in the queue changed

    async def agent_said(self, ticket: Ticket, words: AgentWords) -> None:
        """A reply or a note, from the console or any other staff channel, in the thread."""
        await self.feed.append(
            ticket.id,
            {
                "kind": "note" if words.note else "agent",
                "agent": words.agent,
                "by": words.agent_name,
                "text": words.text,
            },
        )

    async def update(self, ticket: Ticket) -> None:
        thread = (await self.feed.recent([ticket.id]))[ticket.id]
        await self.feed.publish({"type": "ticket", "ticket": row(ticket, thread)})

    def attach(self, desk: Desk) -> None:
        """The console's HTTP routes call ``desk`` directly (see ``routes.py``)."""
        self.desk = desk
