"""The staff channel on DingTalk: one agent group, commands instead of threads.

DingTalk group messages have no threads and cannot be edited, so every post
about a ticket starts with ``[#<id>]`` and agents name the ticket in their
commands (``@bot claim <id>``, ``@bot reply <id> <text>``, ``@bot close <id>``).
The card's buttons send those commands back as messages (ActionCard
``dtmd://`` links). Everything is handled by :class:`bot.escalation.desk.Desk`.
Replies and notes written in another staff channel are posted in the group too.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from adapters.dingtalk.channel import DingTalkChannel
from bot.escalation.desk import Desk
from bot.escalation.staff import AgentWords, written_elsewhere
from bot.escalation.texts import STAFF
from bot.escalation.tickets import Ticket
from bot.models import Button, InboundMessage, Reply

log = logging.getLogger(__name__)
CLAIM_WORDS = ("claim", "认领")
REPLY_WORDS = ("reply", "r", "回复")
CLOSE_WORDS = ("close", "resolve", "结束", "关闭")
NOTE_WORDS = ("note", "备注")


def card(ticket: Ticket) -> Reply:
    """The ticket card: summary, masked transcript, and the buttons its status allows."""
    text = STAFF["ding_card"].format(
        id=ticket.id,
        reason=ticket.reason,
        platform=ticket.address["platform"],
        user=ticket.address["user_id"],
        intents=", ".join(ticket.summary.get("intents", [])) or "-",
        slots=json.dumps(ticket.summary.get("slots", {}), ensure_ascii=False),
        transcript="\n".join(ticket.transcript[-8:]) or "-",
    )
    buttons = []
    if ticket.status == "pending":
        buttons.append(Button("Claim", f"claim {ticket.id}"))
    if ticket.status in ("pending", "claimed"):
        buttons.append(Button("Close", f"close {ticket.id}"))
    return Reply(text=text, buttons=tuple(buttons))


class DingTalkStaff:
    """:class:`bot.escalation.staff.StaffChannel` on a DingTalk group."""

    def __init__(self, channel: DingTalkChannel, group_id: str) -> None:
        self.ding = channel
        self.group_id = group_id
        self.desk: Desk | None = None
        channel.staff_group = group_id  # its messages go to the desk, not the pipeline

    async def post_ticket(self, ticket: Ticket) -> str:
        # Group posts go through the robot OpenAPI (groupMessages/send): proactive, no webhook.
        await self.ding.outbound.send_group(self.group_id, card(ticket))
        return ""  # no threads: every post names the ticket instead

    async def post(self, ticket: Ticket, text: str) -> None:
        await self.say(f"[#{ticket.id}] {text}")

    async def update(self, ticket: Ticket) -> None:
        # DingTalk robot messages cannot be edited; a status line stands in for the update.
        owner = f" · {ticket.agent_name}" if ticket.agent_name else ""
        await self.say(f"[#{ticket.id}] {ticket.status}{owner}")

    async def agent_said(self, ticket: Ticket, words: AgentWords) -> None:
        """A reply or note written in another staff channel, in the group.

        The group shows its own agents' commands already; the robot's own posts
        are not delivered back to it.
        """
        if words.via != "dingtalk":
            await self.post(ticket, written_elsewhere(words))

    async def say(self, text: str) -> None:
        """Post ``text`` in the staff group."""
        await self.ding.outbound.send_group(self.group_id, Reply(text=text))

    def attach(self, desk: Desk) -> None:
        """Route the group's commands to ``desk``."""
        self.desk = desk
        self.ding.staff_handler = self._on_staff_event

    async def _on_staff_event(self, event: dict[str, Any]) -> None:
        message: InboundMessage = event["message"]
        assert self.desk is not None
        # A redelivered command (same msgId) must not claim or reply twice.
        host = self.ding.host
        key = host.keys.staff_seen("dingtalk", message.message_id)
        if not await host.redis.set(key, "1", nx=True, ex=86400):
            return
        await self.command(
            message.text, agent=message.address.user_id, agent_name=message.user_name
        )

    async def command(self, text: str, *, agent: str, agent_name: str) -> None:
        """One agent command from the group; anything unclear gets the help text."""
        assert self.desk is not None
        words = text.strip().split(maxsplit=2)
        verb = words[0].lower() if words else ""
        ticket_id = words[1] if len(words) > 1 else ""
        if not ticket_id or verb not in CLAIM_WORDS + REPLY_WORDS + CLOSE_WORDS + NOTE_WORDS:
            await self.say(STAFF["ding_help"])
            return
        if verb in CLAIM_WORDS:
            answer = await self.desk.claim(ticket_id, agent=agent, agent_name=agent_name or agent)
            ticket = await self.desk.tickets.get(ticket_id)
            if ticket is None or ticket.agent != agent:
                await self.say(f"@{agent_name or agent} {answer}")
            return
        ticket = await self.desk.tickets.get(ticket_id)
        if ticket is None:
            await self.say(STAFF["unknown"].format(id=ticket_id))
        elif verb in CLOSE_WORDS:
            await self.desk.resolve(ticket, agent=agent)
        elif verb in NOTE_WORDS:
            note = f"note: {' '.join(words[2:])}"
            await self.desk.message(ticket, agent=agent, text=note, via="dingtalk")
        elif len(words) < 3:
            await self.say(STAFF["ding_help"])
        else:
            await self.desk.message(ticket, agent=agent, text=words[2], via="dingtalk")
