"""Numbers a support team asks for, computed from the durable record."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.records.model import Record

OUT_OF_SCOPE = "out_of_scope"
_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_span(text: str) -> float:
    """``7d``, ``24h``, ``30m`` ... as seconds; ValueError otherwise."""
    match = _SPAN.match(text.strip())
    if not match:
        raise ValueError(f"not a time span: {text!r} (use e.g. 30m, 24h, 7d)")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass
class Report:
    """Volumes, intents, fallback and escalation rates, ticket timings, satisfaction."""

    messages_by_platform: dict[str, int] = field(default_factory=dict)
    top_intents: list[tuple[str, int]] = field(default_factory=list)
    fallback_rate: float = 0.0
    escalation_rate: float = 0.0
    tickets: int = 0
    median_claim_s: float | None = None
    median_resolve_s: float | None = None
    satisfaction: float | None = None

    def rows(self) -> list[tuple[str, str, str]]:
        """(section, key, value) rows, for the table and the CSV."""
        out = [("volume", p, str(n)) for p, n in sorted(self.messages_by_platform.items())]
        out += [("intent", name, str(n)) for name, n in self.top_intents]
        out += [
            ("rate", "fallback", f"{self.fallback_rate:.3f}"),
            ("rate", "escalation", f"{self.escalation_rate:.3f}"),
            ("tickets", "opened", str(self.tickets)),
            ("tickets", "median_time_to_claim_s", _fmt(self.median_claim_s)),
            ("tickets", "median_time_to_resolve_s", _fmt(self.median_resolve_s)),
            ("tickets", "average_satisfaction", _fmt(self.satisfaction)),
        ]
        return out


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def build_report(records: Iterable[Record], *, top: int = 10) -> Report:
    """Aggregate ``records`` into a :class:`Report`."""
    records = list(records)
    inbound = [r for r in records if r.kind == "in"]
    tickets = [r for r in records if r.kind == "ticket"]
    report = Report(messages_by_platform=dict(Counter(r.platform for r in inbound)))
    intents = Counter(r.intent for r in inbound if r.intent)
    report.top_intents = intents.most_common(top)
    with_intent = sum(intents.values())
    if with_intent:
        report.fallback_rate = sum(1 for r in inbound if r.intent and is_miss(r)) / with_intent
    conversations = {r.conversation for r in inbound}
    opened = {r.ticket_id: r for r in tickets if r.event == "opened"}
    report.tickets = len(opened)
    if conversations:
        report.escalation_rate = len({r.conversation for r in opened.values()}) / len(conversations)
    report.median_claim_s = _median_since(opened, tickets, "claimed")
    report.median_resolve_s = _median_since(opened, tickets, "resolved")
    scores = [float(r.data["score"]) for r in tickets if r.event == "rated" and "score" in r.data]
    report.satisfaction = statistics.fmean(scores) if scores else None
    return report


def is_miss(record: Record) -> bool:
    """An inbound message the bot did not understand.

    The dialog fell back, or the model was unsure and the message answered no
    question: an order number given when asked is out of scope for the model,
    and no miss.
    """
    if record.kind != "in" or record.data.get("answered_slot"):
        return False
    return bool(record.data.get("fallback")) or record.intent == OUT_OF_SCOPE


def _median_since(opened: dict[str, Record], tickets: list[Record], event: str) -> float | None:
    durations = [
        r.ts - opened[r.ticket_id].ts for r in tickets if r.event == event and r.ticket_id in opened
    ]
    return statistics.median(durations) if durations else None
