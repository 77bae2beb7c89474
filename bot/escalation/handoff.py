"""Opening tickets and relaying customer messages: the pipeline's :class:`~bot.brain.Handoff`."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bot.brain import NoHandoff
from bot.escalation.staff import StaffChannel, Staffed
from bot.escalation.texts import STAFF, customer
from bot.escalation.tickets import Ticket, TicketStore
from bot.escalation.timers import BusinessHours, Timers
from bot.pii import mask_pii
from bot.records import Record, RecordWriter
from bot.turn import Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimerPolicy:
    """When the ticket timers fire (minutes), and the business hours."""

    unclaimed_min: float
    agent_idle_min: float
    customer_idle_min: float
    window_warn_min: float
    wait_min: int
    hours: BusinessHours
    hours_text: str
    # platform -> its reply window (s): a claimed ticket warns before it closes (WeChat 48 h)
    windows: Mapping[str, float] = field(default_factory=dict)


class EscalationHandoff:
    """Tickets in Redis, cards in the staff channel; only escalation changes a mode."""

    def __init__(
        self,
        *,
        tickets: TicketStore,
        staff: StaffChannel,
        records: RecordWriter,
        timers: Timers,
        policy: TimerPolicy,
        transcript_lines: int = 10,
        mask: bool = True,
        satisfaction: bool = True,
        clock: Callable[[], float] = time.time,
        nobody: NoHandoff | None = None,
    ) -> None:
        self.tickets = tickets
        self.staff = staff
        # what a customer is told when no staff channel has anyone to see a ticket
        self.nobody = nobody or NoHandoff("no staff channel has anyone to see tickets")
        self.records = records
        self.timers = timers
        self.policy = policy
        self.transcript_lines = transcript_lines
        self.satisfaction = satisfaction
        self.mask: Callable[[str], str] = mask_pii if mask else str
        self.clock = clock

    async def open_ticket(self, turn: Turn, reason: str) -> None:
        """Create the ticket, post it to the staff channel, tell the customer; human mode.

        When no staff channel has anyone to see it (a console without agents), no
        ticket is opened and the customer is told so, as without staff channels.
        """
        if isinstance(self.staff, Staffed) and not await self.staff.staffed():
            await self.nobody.open_ticket(turn, reason)
            return
        ctx = turn.context
        assert ctx is not None
        history = ctx.history[-self.transcript_lines :]
        now = self.clock()
        after_hours = self._after_hours(now)
        ticket = await self.tickets.create(
            conversation=turn.conversation,
            address=turn.message.address.to_dict(),
            reason=reason,
            summary={
                "intents": [h["intent"] for h in history if h.get("intent")][-5:],
                "slots": {
                    k: self.mask(str(v))
                    for k, v in {**ctx.state.get("memory", {}), **ctx.slots}.items()
                },
                "platform": turn.message.platform,
                "lang": ctx.lang,
                **({"after_hours": after_hours} if after_hours else {}),
            },
            transcript=[f"{h['role']}: {self.mask(str(h['text']))}" for h in history],
        )
        ticket.staff_thread = await self.staff.post_ticket(ticket)
        await self.tickets.save(ticket)
        ctx.mode, ctx.ticket_id = "human", ticket.id
        ctx.reset_flow()
        if after_hours is None:
            turn.say(customer("asked", ctx.lang, id=ticket.id, minutes=self.policy.wait_min))
        else:
            turn.say(customer("after_hours", ctx.lang, id=ticket.id, hours=self.policy.hours_text))
            # posted once, by the replica that opens the ticket, like a timer's notice
            await self.staff.post(
                ticket,
                STAFF["after_hours"].format(
                    hours=self.policy.hours_text, opens=after_hours["opens"]
                ),
            )
        await self._schedule_open(ticket, now)
        self.record(ticket.id, turn.conversation, turn.message.platform, "opened", reason=reason)
        log.info(
            "ticket opened",
            extra={"ticket": ticket.id, "conversation": turn.conversation, "reason": reason},
        )

    def _after_hours(self, now: float) -> dict[str, float | str] | None:
        """When agents are next in, for a ticket opened now; None during business hours.

        Kept in the ticket's summary (a field of its own would break replicas still
        running the previous version during a rolling update), so staff channels can
        show it while the ticket waits.
        """
        hours = self.policy.hours
        if hours.is_open(now):
            return None
        opens_at = hours.next_open(now)
        return {"opens_at": opens_at, "opens": hours.clock(opens_at)}

    async def _schedule_open(self, ticket: Ticket, now: float) -> None:
        p = self.policy
        await self.timers.schedule(
            ticket.id, "unclaimed", p.hours.next_open(now) + p.unclaimed_min * 60
        )
        # customer_idle starts with the claim (Desk.claim): waiting for an agent is not idling
        await self._window_restarts(ticket, now)

    async def _window_restarts(self, ticket: Ticket, now: float) -> None:
        """The customer wrote: a platform's reply window (if it has one) runs from now."""
        window_s = self.policy.windows.get(ticket.address["platform"])
        if window_s is not None:
            await self.timers.schedule(
                ticket.id, "window", now + window_s - self.policy.window_warn_min * 60
            )

    async def relay_to_agent(self, turn: Turn) -> None:
        """A customer message while an agent owns the conversation goes to the ticket thread."""
        ctx = turn.context
        assert ctx is not None
        ticket = await self.tickets.get(ctx.ticket_id or "")
        if ticket is None or ticket.status not in ("pending", "claimed"):
            ctx.mode, ctx.ticket_id = "bot", None  # a stale mode: hand the conversation back
            return
        await self.staff.post(
            ticket, STAFF["customer_says"].format(text=self.mask(turn.message.text))
        )
        # Appended in place: a whole-ticket save here could undo a claim made meanwhile.
        await self.tickets.add_event(ticket, {"ts": time.time(), "event": "customer_message"})
        now = self.clock()
        if ticket.status == "claimed":  # the customer answers the agent: not idle
            await self.timers.schedule(
                ticket.id, "customer_idle", now + self.policy.customer_idle_min * 60
            )
        await self._window_restarts(ticket, now)

    async def take_rating(self, turn: Turn) -> bool:
        """The first message after a resolve: a bare 1-5 is the satisfaction score."""
        ctx = turn.context
        assert ctx is not None
        ticket_id = str(ctx.state.pop("rate_ticket", ""))  # one chance, then the bot answers
        answer = turn.message.text.strip()
        ticket = await self.tickets.get(ticket_id) if ticket_id else None
        if ticket is None or answer not in ("1", "2", "3", "4", "5"):
            return False
        await self.rate(ticket, int(answer))
        turn.say(customer("rate_thanks", ctx.lang))
        return True

    async def rate(self, ticket: Ticket, score: int) -> None:
        """Record the customer's 1-5 satisfaction score on the ticket and in the records."""
        ticket.satisfaction = max(1, min(5, score))
        await self.tickets.add_event(
            ticket, {"ts": time.time(), "event": "rated", "score": ticket.satisfaction}
        )
        await self.tickets.save(ticket)  # the score field itself (the ticket is closed by now)
        await self.staff.post(ticket, STAFF["rated"].format(score=ticket.satisfaction))
        self.record(
            ticket.id,
            ticket.conversation,
            ticket.address["platform"],
            "rated",
            score=ticket.satisfaction,
        )

    def record(
        self, ticket_id: str, conversation: str, platform: str, event: str, **data: object
    ) -> None:
        """Append a ticket event to the durable record."""
        self.records.add(
            Record(
                kind="ticket",
                platform=platform,
                conversation=conversation,
                ticket_id=ticket_id,
                event=event,
                data=dict(data),
            )
        )
