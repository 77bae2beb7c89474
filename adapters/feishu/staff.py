"""The staff channel on Feishu: a card per ticket in one group chat, a thread per ticket.

Agents press **Claim** or **Resolve** on the card (``card.action.trigger``
callbacks), and write in the card's thread (``reply_in_thread``): replies go to
the customer, ``note:``/``//`` stay internal, ``close`` resolves. Everything is
handled by :class:`bot.escalation.desk.Desk`. The card is updated in place
(``update_multi``), and replies and notes written in another staff channel are
posted in the thread. Unless the app may read every group message, agents
@-mention the bot in the thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.feishu import inbound
from adapters.feishu.channel import FeishuChannel
from bot.escalation.desk import Desk
from bot.escalation.staff import AgentWords, written_elsewhere
from bot.escalation.texts import STAFF
from bot.escalation.tickets import Ticket

CLAIM, RESOLVE = "claim_ticket", "resolve_ticket"
_SLACK_MENTION = re.compile(r"<@([\w-]+)>")  # the desk's texts mention agents Slack's way


def card(ticket: Ticket) -> dict[str, Any]:
    """The ticket card: who, why, summary, recent transcript, and the buttons its status allows."""
    address = ticket.address
    head = f"Ticket {ticket.id} · {ticket.status}" + (
        f" · {ticket.agent_name}" if ticket.agent_name else ""
    )
    slots = json.dumps(ticket.summary.get("slots", {}), ensure_ascii=False)
    intents = ", ".join(ticket.summary.get("intents", [])) or "-"
    elements: list[dict[str, Any]] = [
        _div(f"{address['platform']} user {address['user_id']} · reason: {ticket.reason}"),
        _div(f"intents: {intents}\nslots: {slots}"),
        {
            "tag": "note",
            "elements": [
                {"tag": "plain_text", "content": "\n".join(ticket.transcript[-8:]) or "-"}
            ],
        },
    ]
    buttons = []
    if ticket.status == "pending":
        buttons.append(_button("Claim", CLAIM, ticket.id, "primary"))
    if ticket.status in ("pending", "claimed"):
        buttons.append(_button("Resolve", RESOLVE, ticket.id, "default"))
    if buttons:
        elements.append({"tag": "action", "actions": buttons})
    template = {"pending": "orange", "claimed": "blue"}.get(ticket.status, "grey")
    return {
        "config": {"wide_screen_mode": True, "update_multi": True},  # one card, seen by all
        "header": {"title": {"tag": "plain_text", "content": head}, "template": template},
        "elements": elements,
    }


def _div(text: str) -> dict[str, Any]:
    return {"tag": "div", "text": {"tag": "plain_text", "content": text}}


def _button(label: str, action: str, ticket_id: str, kind: str) -> dict[str, Any]:
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": label},
        "type": kind,
        "value": {"action": action, "ticket": ticket_id},
    }


def feishu_text(text: str) -> dict[str, str]:
    """A text message's content; ``<@ou_…>`` mentions become Feishu's ``<at>`` tags."""
    return {"text": _SLACK_MENTION.sub(r'<at user_id="\1"></at>', text)}


class FeishuStaff:
    """:class:`bot.escalation.staff.StaffChannel` on a Feishu group chat."""

    def __init__(self, channel: FeishuChannel, chat_id: str) -> None:
        self.feishu = channel
        self.api = channel.api
        self.chat_id = chat_id
        self.desk: Desk | None = None
        channel.staff_chat = chat_id  # its messages go to the desk, not the pipeline

    async def post_ticket(self, ticket: Ticket) -> str:
        return await self.api.send(self.chat_id, "interactive", card(ticket))

    async def post(self, ticket: Ticket, text: str) -> None:
        if not ticket.staff_thread:
            await self.say(text)
            return
        await self.api.reply(ticket.staff_thread, "text", feishu_text(text), in_thread=True)

    async def update(self, ticket: Ticket) -> None:
        if ticket.staff_thread:
            await self.api.update_card(ticket.staff_thread, card(ticket))

    async def agent_said(self, ticket: Ticket, words: AgentWords) -> None:
        """A reply or note written in another staff channel (the console), in the thread.

        What was typed in the thread itself is there already; the bot's own posts
        never come back as agent messages (the channel drops app senders).
        """
        if words.via != "feishu":
            await self.post(ticket, written_elsewhere(words))

    async def say(self, text: str) -> None:
        """Post ``text`` in the staff chat itself (not in a ticket thread)."""
        await self.api.send(self.chat_id, "text", feishu_text(text))

    def attach(self, desk: Desk) -> None:
        """Route the card's buttons and the ticket threads to ``desk``."""
        self.desk = desk
        self.feishu.card_handler = self._once(self._on_card)
        self.feishu.staff_handler = self._once(self._on_message)

    def _once(
        self, act: Callable[[dict[str, Any]], Awaitable[None]]
    ) -> Callable[[dict[str, Any]], Awaitable[None]]:
        """A redelivered event (same ``event_id``, any replica) must not claim or reply twice."""

        async def handler(payload: dict[str, Any]) -> None:
            event_id = str((payload.get("header") or {}).get("event_id") or "")
            host = self.feishu.host
            key = host.keys.staff_seen("feishu", event_id)
            if event_id and not await host.redis.set(key, "1", nx=True, ex=86400):
                return
            await act(payload)

        return handler

    async def _on_card(self, payload: dict[str, Any]) -> None:
        event = payload.get("event") or {}
        value = (event.get("action") or {}).get("value") or {}
        if isinstance(value, str):  # older clients send the value JSON-encoded
            value = inbound.parse_json(value, "Feishu card value")
        user = str((event.get("operator") or {}).get("open_id") or "")
        ticket_id, action = str(value.get("ticket") or ""), value.get("action")
        if not (user and ticket_id and action in (CLAIM, RESOLVE)):
            return  # another card's button
        where = (event.get("context") or {}).get("open_chat_id")
        if where != self.chat_id:
            # A card forwarded elsewhere: refuse visibly, in the staff chat.
            await self.say(STAFF["not_staff"].format(agent=user, id=ticket_id))
            return
        await (self._claim if action == CLAIM else self._resolve)(ticket_id, user)

    async def _claim(self, ticket_id: str, user: str) -> None:
        assert self.desk is not None
        name = await self.api.user_name(user)
        answer = await self.desk.claim(ticket_id, agent=user, agent_name=name)
        ticket = await self.desk.tickets.get(ticket_id)
        if ticket is None:
            await self.say(f"<@{user}> {answer}")
        elif ticket.agent != user:
            await self.post(ticket, f"<@{user}> {answer}")

    async def _resolve(self, ticket_id: str, user: str) -> None:
        assert self.desk is not None
        ticket = await self.desk.tickets.get(ticket_id)
        if ticket is None:
            await self.say(f"<@{user}> " + STAFF["unknown"].format(id=ticket_id))
        else:
            await self.desk.resolve(ticket, agent=user)

    async def _on_message(self, payload: dict[str, Any]) -> None:
        assert self.desk is not None
        event = payload.get("event")
        sender = event.get("sender") if isinstance(event, dict) else None
        if not isinstance(event, dict) or not isinstance(sender, dict):
            return  # not a message event as Feishu sends them
        if sender.get("sender_type") != "user":
            return  # the bot's own posts
        message = inbound.message_of(payload)
        root = message.get("root_id")
        ticket = await self.desk.tickets.by_thread(str(root)) if root else None
        if ticket is None:
            return  # chatter in the staff chat outside any ticket thread
        text, _ = inbound.text_of(message, await self.api.bot_open_id())
        user = inbound.sender_open_id(event)
        await self.desk.message(ticket, agent=user, text=text, via="feishu")
