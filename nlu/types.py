"""What the NLU returns, shared with the dialog engine. A fixed contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import BotError

if TYPE_CHECKING:
    from bot.stores.context import Context

OUT_OF_SCOPE = "out_of_scope"
# The bundled intents that carry no request: a conversation's social turns.
SOCIAL = frozenset({"greet", "goodbye", "thanks", "affirm", "deny"})


class ModelError(BotError):
    """A model that cannot be used (missing, corrupt, or from a newer schema)."""


@dataclass(frozen=True, slots=True)
class Entity:
    """A value found in the text; ``start``/``end`` index the *original* text."""

    type: str  # order_id, tracking_no, phone, email, money, date, quantity ...
    value: str  # the exact substring, text[start:end]
    normalized: Any  # e.g. "2026-11-23" for 明天, 350.0 for 三百五十元
    start: int
    end: int
    source: str = "rule"  # rule | model


@dataclass(frozen=True, slots=True)
class IntentScore:
    """An intent and its calibrated confidence in [0, 1]."""

    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class ParseResult:
    """Everything the dialog needs to know about one message."""

    text: str  # as received
    normalized: str  # full-width folded, whitespace and case normalised
    intent: IntentScore  # OUT_OF_SCOPE when below threshold or predicted so
    ranking: tuple[IntentScore, ...] = ()  # top k, best first
    entities: tuple[Entity, ...] = ()
    lang: str = "zh-CN"
    blocked: bool = False  # the sensitive-word filter matched; never sent to the model
    extra: dict[str, Any] = field(default_factory=dict)

    def entity(self, type_: str) -> Entity | None:
        """The first entity of ``type_``, if any."""
        return next((e for e in self.entities if e.type == type_), None)


class NLU(Protocol):
    """Anything that can parse a message."""

    async def parse(self, text: str, context: Context | None = None) -> ParseResult:
        """Understand ``text``; never blocks the event loop."""
