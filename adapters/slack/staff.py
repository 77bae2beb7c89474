"""The staff channel on Slack: a Block Kit card per ticket, a thread per ticket.

Agents press **Claim** or **Resolve** on the card, and write in the ticket's
thread: replies go to the customer, ``note:``/``//`` stay internal, ``close``
resolves. Everything is handled by :class:`bot.escalation.desk.Desk`. Replies
and notes written in another staff channel (the console) are posted in the
ticket's thread, so agents here see them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.slack.channel import SlackChannel
from bot.escalation.desk import Desk
from bot.escalation.staff import AgentWords, written_elsewhere
from bot.escalation.texts import STAFF
from bot.escalation.tickets import Ticket

CLAIM, RESOLVE = "claim_ticket", "resolve_ticket"


def defused(text: str) -> str:
    """``text`` without Slack's special mentions (``<!here>``, ``<!channel>``, ``<!everyone>``).

    Staff posts carry what customers and agents typed; a customer must not be able
    to notify the whole staff channel. The desk's own ``<@user>`` mentions stay.
    """
    return text.replace("<!", "&lt;!")


def card(ticket: Ticket) -> list[dict[str, Any]]:
    """The ticket card: who, why, summary, recent transcript, and the buttons its status allows."""
    address = ticket.address
    head = (
        f"*Ticket {ticket.id}* · {ticket.status}"
        + (f" · {ticket.agent_name}" if ticket.agent_name else "")
        + f"\n{address['platform']} user `{address['user_id']}` · reason: {ticket.reason}"
    )
    summary = json.dumps(ticket.summary.get("slots", {}), ensure_ascii=False)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"intents: {', '.join(ticket.summary.get('intents', [])) or '-'}"
                f"\nslots: {summary}",
            },
        },
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": defused("\n".join(ticket.transcript[-8:])) or "-"}
            ],
        },
    ]
    buttons = []
    if ticket.status == "pending":
        buttons.append(
            {
                "type": "button",
                "action_id": CLAIM,
                "value": ticket.id,
                "style": "primary",
                "text": {"type": "plain_text", "text": "Claim"},
            }
        )
    if ticket.status in ("pending", "claimed"):
        buttons.append(
            {
                "type": "button",
                "action_id": RESOLVE,
                "value": ticket.id,
                "text": {"type": "plain_text", "text": "Resolve"},
            }
        )
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


class SlackStaff:
    """:class:`bot.escalation.staff.StaffChannel` on a Slack channel."""

    def __init__(self, channel: SlackChannel, channel_id: str) -> None:
        self.slack = channel
        self.channel_id = channel_id
        self.desk: Desk | None = None
        channel.staff_channel = channel_id  # its messages go to the desk, not the pipeline

    async def post_ticket(self, ticket: Ticket) -> str:
        response = await self.slack.client.chat_postMessage(
            channel=self.channel_id,
            text=f"New ticket {ticket.id}: {ticket.reason}",
            blocks=card(ticket),
        )
        return str(response["ts"])

    async def post(self, ticket: Ticket, text: str) -> None:
        await self.slack.client.chat_postMessage(
            channel=self.channel_id, thread_ts=ticket.staff_thread, text=defused(text)
        )

    async def update(self, ticket: Ticket) -> None:
        await self.slack.client.chat_update(
            channel=self.channel_id,
            ts=ticket.staff_thread,
            text=f"Ticket {ticket.id}: {ticket.status}",
            blocks=card(ticket),
        )

    async def agent_said(self, ticket: Ticket, words: AgentWords) -> None:
        """A reply or note written in another staff channel (the console), in the thread.

        What was typed in the thread itself is there already. The bot's own posts
        never come back as agent messages (the channel drops bot messages).
        """
        if words.via != "slack":
            await self.post(ticket, written_elsewhere(words))

    async def say(self, text: str) -> None:
        """Post ``text`` in the staff channel itself (not in a ticket thread)."""
        await self.slack.client.chat_postMessage(channel=self.channel_id, text=defused(text))

    def attach(self, desk: Desk) -> None:
        """Route the card's buttons and the ticket threads to ``desk``."""
        self.desk = desk
        self.slack.app.action(CLAIM)(self._button(self._claim))
        self.slack.app.action(RESOLVE)(self._button(self._resolve))
        self.slack.staff_handler = self._on_staff_message

    def _button(
        self, act: Callable[[str, dict[str, Any]], Awaitable[None]]
    ) -> Callable[..., Awaitable[None]]:
        async def listener(ack: Callable[[], Awaitable[None]], body: dict[str, Any]) -> None:
            await ack()
            ticket_id, user = body["actions"][0]["value"], body["user"]
            where = (body.get("channel") or {}).get("id")
            if where != self.channel_id:
                # A card forwarded or copied elsewhere: refuse visibly, in the staff channel.
                await self.say(STAFF["not_staff"].format(agent=user["id"], id=ticket_id))
                return
            await act(ticket_id, user)

        return listener

    async def _claim(self, ticket_id: str, user: dict[str, Any]) -> None:
        assert self.desk is not None
        answer = await self.desk.claim(
            ticket_id, agent=user["id"], agent_name=user.get("name") or user["id"]
        )
        ticket = await self.desk.tickets.get(ticket_id)
        if ticket is None:
            await self.say(f"<@{user['id']}> {answer}")
        elif ticket.agent != user["id"]:
            await self.post(ticket, f"<@{user['id']}> {answer}")

    async def _resolve(self, ticket_id: str, user: dict[str, Any]) -> None:
        assert self.desk is not None
        ticket = await self.desk.tickets.get(ticket_id)
        if ticket is None:
            await self.say(f"<@{user['id']}> " + STAFF["unknown"].format(id=ticket_id))
        else:
            await self.desk.resolve(ticket, agent=user["id"])

    async def _on_staff_message(self, item: dict[str, Any]) -> None:
        assert self.desk is not None
        event = item["event"]
        thread = event.get("thread_ts")
        ticket = await self.desk.tickets.by_thread(thread) if thread else None
        if ticket is None:
            return  # chatter in the staff channel outside any ticket thread
        await self.desk.message(
            ticket, agent=event.get("user", ""), text=event.get("text", ""), via="slack"
        )
