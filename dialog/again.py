"""A value alone right after an answer: the same request again, for that value.

"不对，是 20231122002", "ok then, what about 20231122006?" or a bare number after
an order's status or a refused cancellation is the last request asked again for
the new value, whatever the model makes of the words around it (a bare order
number reads as order_status, "ok then …" as goodbye). A flow with side effects
is asked again only when its last run ended before a confirmation was asked
(refused, not found), and the new run still has to be confirmed. After a
confirmation a value alone starts nothing with side effects: it gets the first
flow without any that takes it (an order: its status).
"""

from __future__ import annotations

from bot.turn import Turn
from dialog.config import DialogConfig, Flow
from dialog.flows import FlowRunner
from dialog.slots import from_entities
from nlu.types import ParseResult


class AskAgain:
    """Reads a value-only message against the flow the conversation last finished."""

    def __init__(self, config: DialogConfig, runner: FlowRunner) -> None:
        self.config = config
        self.runner = runner

    async def __call__(self, turn: Turn, parse: ParseResult) -> bool:
        """Start the flow the value asks again for; False when there is none."""
        ctx = turn.context
        assert ctx is not None
        last = self.config.flows.get(str(ctx.state.get("last_flow")))
        if last is None:
            return False
        if ctx.state.get("last_confirmed"):
            flows = self.config.flows.items()
            name = next((n for n, f in flows if self._looks_up(f, parse)), None)
        else:
            name = str(ctx.state["last_flow"]) if self._takes(last, parse) else None
        if name is None:
            return False
        await self.runner.start(turn, name, parse)
        return True

    def _takes(self, flow: Flow, parse: ParseResult) -> bool:
        """Whether one of ``flow``'s slots takes a value in ``parse``."""
        slots = {s.slot for s in flow.steps if s.slot}
        return any(from_entities(self.config.slots[n], parse) is not None for n in slots)

    def _looks_up(self, flow: Flow, parse: ParseResult) -> bool:
        """A flow without side effects that takes a value in ``parse``."""
        return not any(s.type == "confirm" for s in flow.steps) and self._takes(flow, parse)
