"""What agents do in the staff channel: claim, reply, note, resolve, rate.

Every action names a ticket. Bad input (an unknown or closed ticket, a claim
someone else won, a reply to a customer whose platform is disabled or whose
window closed) gets a clear answer in the staff channel; nothing is dropped
silently. Messages starting with ``note:`` or ``//`` stay internal.

Replies and notes are shown, with the agent's name, in every staff channel,
whichever channel they were typed in: the console keeps its own thread of
them, and Slack and DingTalk get those typed elsewhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from bot.errors import DeliveryError
from bot.escalation.handoff import EscalationHandoff
from bot.escalation.staff import AgentWords, ShowsAgentWords
from bot.escalation.texts import STAFF, customer
from bot.escalation.tickets import Ticket
from bot.models import Address, Reply
from bot.outbound import SendAllowance
from bot.runtime import Runtime

log = logging.getLogger(__name__)
NOTE_PREFIXES = ("note:", "//")
CLOSE_WORDS = ("close", "resolve", "结束", "关闭")


def is_note(text: str) -> bool:
    """Whether an agent's message is an internal note (never sent to the customer)."""
    return text.strip().lower().startswith(NOTE_PREFIXES)


def note_body(text: str) -> str:
    """The words of a note without its prefix (the prefix alone is kept as written)."""
    stripped = text.strip()
    prefix = next((p for p in NOTE_PREFIXES if stripped.lower().startswith(p)), "")
    return stripped[len(prefix) :].strip() or stripped


class Desk:
    """Agent actions, shared by every staff-channel implementation."""

    def __init__(
        self,
        runtime: Runtime,
        handoff: EscalationHandoff,
        titles: Mapping[str, str] | None = None,
    ) -> None:
        self.runtime = runtime
        # staff-channel kind -> the name texts give it (the plug-ins' StaffSide.title)
        self.titles = dict(titles or {})
        self.handoff = handoff
        self.tickets = handoff.tickets
        self.staff = handoff.staff

    async def claim(self, ticket_id: str, *, agent: str, agent_name: str) -> str:
        """Atomic claim; returns the message for the clicking agent."""
        won, detail = await self.tickets.claim(ticket_id, agent=agent, agent_name=agent_name)
        if not won:
            key = (
                "claimed_by_other"
                if detail not in ("unknown", "resolved", "expired")
                else ("unknown" if detail == "unknown" else "not_open")
            )
            return STAFF[key].format(id=ticket_id, holder=detail, status=detail)
        ticket = await self.tickets.get(ticket_id)
        assert ticket is not None
        await self.handoff.timers.cancel(ticket.id, "unclaimed")
        await self._agent_clock(ticket)
        await self._customer_clock(ticket)
        await self.staff.update(ticket)
        await self.staff.post(ticket, STAFF["claimed"].format(agent=agent_name))
        await self._tell_customer(ticket, customer("joined", self._lang(ticket), agent=agent_name))
        self.handoff.record(
            ticket.id, ticket.conversation, ticket.address["platform"], "claimed", agent=agent
        )
        return STAFF["claimed"].format(agent=agent_name)

    async def message(
        self, ticket: Ticket, *, agent: str, text: str, via: str, agent_name: str | None = None
    ) -> None:
        """An agent wrote in the ticket's thread: a note, a close, or a reply for the customer.

        ``via`` is the kind of staff channel it was written in (``console``, ``slack``,
        ``dingtalk``), so the others can show it. ``agent_name`` is the name to show;
        without it, the ticket's holder's name (a Slack thread message carries only the
        user id).
        """
        stripped = text.strip()
        name = agent_name or (ticket.agent_name if agent == ticket.agent else "") or agent
        if is_note(stripped):
            await self.tickets.add_event(ticket, {"ts": time.time(), "event": "note", "by": agent})
            title = self.titles.get(via, "")
            words = AgentWords(agent, name, note_body(stripped), True, via, via_title=title)
            await self._show(ticket, words)
            return
        if stripped.lower() in CLOSE_WORDS:
            await self.resolve(ticket, agent=agent)
            return
        if ticket.status != "claimed" or ticket.agent != agent:
            await self.staff.post(
                ticket,
                STAFF["not_open"].format(
                    id=ticket.id,
                    status=(
                        f"{ticket.status}" + (f" by {ticket.agent_name}" if ticket.agent else "")
                    ),
                ),
            )
            return
        await self.tickets.add_event(
            ticket, {"ts": time.time(), "event": "agent_reply", "by": agent}
        )
        # shown before the relay, so a delivery failure notice follows the reply it is about
        words = AgentWords(agent, name, stripped, False, via, via_title=self.titles.get(via, ""))
        await self._show(ticket, words)
        await self._agent_clock(ticket)
        await self._tell_customer(ticket, stripped)

    async def _show(self, ticket: Ticket, words: AgentWords) -> None:
        """Tell the staff channels what an agent wrote (each skips what it shows already)."""
        if isinstance(self.staff, ShowsAgentWords):
            await self.staff.agent_said(ticket, words)

    async def resolve(self, ticket: Ticket, *, agent: str) -> None:
        """Hand the conversation back to the bot: flow reset, history kept, customer told."""
        if ticket.status not in ("pending", "claimed"):
            await self.staff.post(
                ticket, STAFF["not_open"].format(id=ticket.id, status=ticket.status)
            )
            return
        if not await self.tickets.close(ticket, status="resolved", by=agent):
            await self.staff.post(
                ticket, STAFF["not_open"].format(id=ticket.id, status=ticket.status)
            )
            return
        await self.handoff.timers.cancel(ticket.id)
        ask = self.handoff.satisfaction and agent != "timer"  # nobody to ask when idle
        async with self.runtime.holding(ticket.conversation) as ctx:
            if ctx.ticket_id == ticket.id:
                ctx.mode, ctx.ticket_id = "bot", None
                ctx.reset_flow()
                if ask:  # the next message may be the score (Route asks take_rating)
                    ctx.state["rate_ticket"] = ticket.id
        told = customer("resolved", self._lang(ticket))
        if ask:
            told += "\n" + customer("rate_ask", self._lang(ticket))
        await self._tell_customer(ticket, told)
        await self.staff.update(ticket)
        await self.staff.post(ticket, STAFF["resolved"].format(agent=ticket.agent_name or agent))
        self.handoff.record(
            ticket.id, ticket.conversation, ticket.address["platform"], "resolved", agent=agent
        )

    async def on_timer(self, ticket_id: str, kind: str) -> None:
        """A ticket timer fired (on exactly one replica)."""
        ticket = await self.tickets.get(ticket_id)
        if ticket is None or ticket.status not in ("pending", "claimed"):
            return
        policy = self.handoff.policy
        if kind == "unclaimed" and ticket.status == "pending":
            await self.staff.post(
                ticket,
                STAFF["unclaimed"].format(
                    id=ticket.id, minutes=int((self.handoff.clock() - ticket.created_at) / 60)
                ),
            )
            await self._tell_customer(
                ticket, customer("still_waiting", self._lang(ticket), id=ticket.id)
            )
            await self.handoff.timers.schedule(
                ticket.id, "unclaimed", self.handoff.clock() + policy.unclaimed_min * 60
            )
        elif kind == "agent_idle" and ticket.status == "claimed":
            await self.staff.post(
                ticket,
                STAFF["agent_idle"].format(
                    agent=ticket.agent, id=ticket.id, minutes=int(policy.agent_idle_min)
                ),
            )
        elif kind == "customer_idle" and ticket.status == "claimed":
            await self.staff.post(
                ticket, STAFF["auto_resolved"].format(minutes=int(policy.customer_idle_min))
            )
            await self.resolve(ticket, agent="timer")
        elif kind == "window" and ticket.status == "claimed":
            await self.staff.post(
                ticket, STAFF["window"].format(minutes=int(policy.window_warn_min))
            )

    async def _agent_clock(self, ticket: Ticket) -> None:
        await self.handoff.timers.schedule(
            ticket.id, "agent_idle", self.handoff.clock() + self.handoff.policy.agent_idle_min * 60
        )

    async def _customer_clock(self, ticket: Ticket) -> None:
        """From the claim on, a customer who stops answering gets the ticket auto-resolved.

        Not before: a customer waiting for an agent (overnight, outside business
        hours) is not idle, and their ticket must still be there when agents come in.
        """
        minutes = self.handoff.policy.customer_idle_min
        await self.handoff.timers.schedule(
            ticket.id, "customer_idle", self.handoff.clock() + minutes * 60
        )

    async def rate(self, ticket: Ticket, score: int) -> None:
        """Record the customer's 1-5 satisfaction score."""
        await self.handoff.rate(ticket, score)

    async def allowance(self, ticket: Ticket) -> SendAllowance | None:
        """What the ticket's customer can still be sent, where the platform limits sends."""
        return await self.runtime.outbound.allowance(Address.from_dict(ticket.address))

    async def _tell_customer(self, ticket: Ticket, text: str) -> None:
        """Deliver on the customer's own platform; a failure is reported in the thread."""
        address = Address.from_dict(ticket.address)
        try:
            await self.runtime.outbound.deliver(address, [Reply(text=text)])
        except DeliveryError as exc:
            log.warning("relay to customer failed", extra={"ticket": ticket.id, "code": exc.code})
            await self.staff.post(
                ticket,
                STAFF["delivery_failed"].format(
                    platform=address.platform, error=f"{exc} (code {exc.code})"
                ),
            )

    def _lang(self, ticket: Ticket) -> str:
        return "en" if ticket.summary.get("lang") == "en" else "zh-CN"
