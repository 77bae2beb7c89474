"""What the console shows of a ticket: a queue row and the full view, as JSON-ready dicts.

Text from customers is masked with :func:`bot.pii.mask_pii` before it leaves
the server, even where the handoff already masked it (masking is idempotent).
The hand-over history goes out as roles and texts, so the page labels the
roles in the agent's language.
"""

from __future__ import annotations

from typing import Any

from adapters.agent_console.feed import Entry
from bot.escalation.tickets import Ticket
from bot.outbound import SendAllowance
from bot.pii import mask_pii

PREVIEW_CHARS = 80
VIEWS = ("unclaimed", "mine", "all")


def in_view(ticket: Ticket, view: str, agent: str) -> bool:
    """Whether ``ticket`` belongs in the queue ``view`` of ``agent``."""
    if view == "unclaimed":
        return ticket.status == "pending"
    if view == "mine":
        return ticket.status == "claimed" and ticket.agent == agent
    return True


def preview(ticket: Ticket, thread: list[Entry]) -> str:
    """The customer's latest words: from the console thread, else the hand-over transcript."""
    said = [e["text"] for e in thread if e.get("kind") == "customer"]
    if not said:
        said = [h["text"] for h in history(ticket) if h["role"] == "user"]
    text = mask_pii(said[-1]) if said else ""
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def history(ticket: Ticket) -> list[dict[str, str]]:
    """The hand-over transcript (``"user: 转人工"``, as staff cards show it) as entries."""
    lines = (line.partition(": ") for line in ticket.transcript)
    return [{"role": role, "text": text} for role, _, text in lines]


def row(ticket: Ticket, thread: list[Entry]) -> dict[str, Any]:
    """A queue row: enough to triage without opening the ticket."""
    return {
        "id": ticket.id,
        "status": ticket.status,
        "reason": ticket.reason,
        "platform": ticket.address.get("platform", ""),
        "created_at": ticket.created_at,
        "claimed_at": ticket.claimed_at,
        "resolved_at": ticket.resolved_at,
        "agent": ticket.agent,
        "agent_name": ticket.agent_name,
        "satisfaction": ticket.satisfaction,
        "lang": ticket.summary.get("lang", ""),
        "preview": preview(ticket, thread),
        # opened outside business hours: {"opens_at": ts, "opens": "09:00"}, else None
        "after_hours": ticket.summary.get("after_hours"),
    }


def detail(
    ticket: Ticket, thread: list[Entry], allowance: SendAllowance | None = None
) -> dict[str, Any]:
    """The whole ticket: the row, the hand-over summary and history, and the thread.

    ``allowance`` is the customer's send window and quota where their platform
    limits proactive sends (WeChat); the page shows both.
    """
    return {
        **row(ticket, thread),
        "intents": ticket.summary.get("intents", []),
        "slots": {k: mask_pii(str(v)) for k, v in ticket.summary.get("slots", {}).items()},
        "history": [{**h, "text": mask_pii(h["text"])} for h in history(ticket)],
        "thread": [_masked(e) for e in thread],
        "window_ends": allowance.closes_at if allowance else None,
        "quota_left": allowance.remaining if allowance else None,
    }


def _masked(entry: Entry) -> Entry:
    """Agents' own words are shown as written; everything else is masked."""
    if entry.get("kind") in ("agent", "note"):
        return entry
    return {**entry, "text": mask_pii(str(entry.get("text", "")))}
