"""A :class:`Turn` is one inbound message on its way through the pipeline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from bot.models import Address, InboundMessage, Reply

if TYPE_CHECKING:
    from bot.stores.context import Context
    from bot.stores.ordering import Lease, Waiter


class Outcome(StrEnum):
    """How a turn ended; adapters map it to their platform's answer."""

    REPLIED = "replied"  # handled; replies (possibly none) were delivered
    DUPLICATE = "duplicate"  # a retry of a message already answered
    IN_FLIGHT = "in_flight"  # a retry of a message another live replica is handling
    RATE_LIMITED = "rate_limited"
    REJECTED = "rejected"  # bad input, logged; retrying will not help
    UNAVAILABLE = "unavailable"  # Redis is down: answer 503 so the platform retries
    FAILED = "failed"  # an error; the claim was released so a retry runs it again

    @property
    def retry_helps(self) -> bool:
        """Whether the platform should be asked to deliver the message again."""
        return self in (Outcome.UNAVAILABLE, Outcome.FAILED)


class ReplySink(Protocol):
    """Where a turn's replies go: an adapter's sender, or a passive HTTP answer."""

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Deliver ``replies`` to ``address``, in order."""


@dataclass
class Turn:
    """Mutable state of one message in the pipeline.

    Steps read ``message`` and fill the rest: ``context`` and ``lease`` once the
    conversation is held, ``parse`` after NLU, ``replies`` from the dialog,
    ``escalation`` when the dialog asks for a human, and ``fallback`` or
    ``answered_slot`` when it did not understand or took the message as an answer.
    """

    message: InboundMessage
    sink: ReplySink
    context: Context | None = None
    lease: Lease | None = None
    # the conversation place the dedupe step took with its claim (one round trip for both),
    # until the conversation step turns it into ``lease``; whoever stops the turn before
    # that gives it up
    waiter: Waiter | None = None
    parse: Any = None
    replies: list[Reply] = field(default_factory=list)
    escalation: str | None = None
    # what the dialog made of the message, for the reports: not understood, or a slot's answer
    fallback: bool = False
    answered_slot: bool = False
    outcome: Outcome = Outcome.REPLIED
    committed: bool = False  # context saved + message done + lock released, atomically
    # index of the last reply delivered, whose send-ledger mark the commit makes moot
    # (a done message's ledger is never read): written only if the turn does not commit
    unmarked: int | None = None
    retry: bool = False  # an earlier attempt at this message failed or died: check the ledger
    detail: str = ""
    started: float = field(default_factory=time.perf_counter)

    @property
    def conversation(self) -> str:
        """The conversation key, also the Redis hash tag."""
        return self.message.address.key

    @property
    def lang(self) -> str:
        """The conversation's language, ``zh-CN`` until known."""
        return self.context.lang if self.context is not None else "zh-CN"

    def say(self, text: str, **kwargs: Any) -> None:
        """Queue a reply."""
        self.replies.append(Reply(text=text, **kwargs))

    def stop(self, outcome: Outcome, detail: str = "") -> None:
        """End the turn here with ``outcome``."""
        self.outcome = outcome
        self.detail = detail
