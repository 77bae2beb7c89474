"""One row of the durable record."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

KINDS = ("in", "out", "ticket")

COLUMNS = (
    "ts",
    "kind",
    "platform",
    "conversation",
    "user_id",
    "message_id",
    "ticket_id",
    "event",
    "intent",
    "confidence",
    "text",
    "data",
)


@dataclass(frozen=True, slots=True)
class Record:
    """An inbound message (``in``), a reply (``out``) or a ticket event (``ticket``).

    ``text`` is stored with personal data already masked. ``event`` is the
    ticket event name (opened, claimed, resolved, expired, rated, ...) or the
    pipeline outcome for inbound messages.
    """

    kind: str
    platform: str
    conversation: str
    text: str = ""
    user_id: str = ""
    message_id: str = ""
    ticket_id: str = ""
    event: str = ""
    intent: str = ""
    confidence: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)

    def row(self) -> tuple[Any, ...]:
        """Values in :data:`COLUMNS` order."""
        return (
            self.ts,
            self.kind,
            self.platform,
            self.conversation,
            self.user_id,
            self.message_id,
            self.ticket_id,
            self.event,
            self.intent,
            self.confidence,
            storable(self.text),
            storable(json.dumps(self.data, ensure_ascii=False, default=str)),
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Record:
        """Inverse of :meth:`row`, from a mapping of column to value."""
        data = row.get("data")
        return cls(
            ts=float(row["ts"]),
            kind=row["kind"],
            platform=row["platform"],
            conversation=row["conversation"],
            user_id=row["user_id"] or "",
            message_id=row["message_id"] or "",
            ticket_id=row["ticket_id"] or "",
            event=row["event"] or "",
            intent=row["intent"] or "",
            confidence=row["confidence"],
            text=row["text"] or "",
            data=json.loads(data) if isinstance(data, str) and data else {},
        )


def storable(text: str) -> str:
    """``text`` with lone surrogates as U+FFFD.

    JSON from a platform may carry an escaped lone surrogate (``"\\ud800"``): a valid
    Python string that no database driver can encode. Pairs are kept joined.
    """
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
