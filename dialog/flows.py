"""Running a flow's steps until the bot needs the user again.

The flow's state lives in the context: ``flow`` and ``step`` name where it
waits, ``slots`` hold what it collected, ``state["results"]`` the backend
answers, ``state["confirmed"]`` the confirmations given, ``state["confirm_token"]``
the token on the pending confirmation's buttons (a button carrying another token is
stale), ``state["confirm_asked"]`` whether a confirmation was asked, and
``flow_stack`` the flows it interrupted, resumed when it finishes.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from typing import Any

from bot.stores.context import Context
from bot.turn import Turn
from dialog.actions import ActionError, Backend
from dialog.config import DialogConfig, Flow, Step
from dialog.slots import InvalidSlot, from_entities, validate
from dialog.templates import Templates, lookup
from nlu.types import ParseResult

log = logging.getLogger(__name__)


def values(ctx: Context) -> dict[str, Any]:
    """Everything a template or an action path may name."""
    return {
        **ctx.state.get("memory", {}),
        **ctx.slots,
        **ctx.state.get("results", {}),
        "error": ctx.state.get("error", ""),
    }


def slot_names(flow: Flow) -> set[str]:
    """Slots a flow asks for or branches on (``order.can_return`` is a result, not a slot)."""
    return {n for s in flow.steps for n in (s.slot, s.when, s.unless) if n and "." not in n}


def holds(ctx: Context, name: str) -> bool:
    """A step condition: a filled slot, or a true field of a stored result."""
    if "." in name:
        return bool(lookup(ctx.state.get("results", {}), name))
    return bool(ctx.slots.get(name))


TOKEN_MARK = "#"  # a confirm button's payload: /affirm#<token>


class FlowRunner:
    """Starts, advances, finishes and resumes flows."""

    def __init__(self, config: DialogConfig, templates: Templates, backend: Backend | None) -> None:
        self.config = config
        self.templates = templates
        self.backend = backend

    def say(self, turn: Turn, template_id: str) -> None:
        """Queue a rendered template."""
        ctx = turn.context
        assert ctx is not None
        turn.replies.append(self.templates.render(template_id, ctx.lang, values(ctx)))

    def flow(self, ctx: Context) -> Flow | None:
        """The active flow's definition."""
        return self.config.flows.get(ctx.flow) if ctx.flow else None

    def current_step(self, ctx: Context) -> Step | None:
        """The step the active flow waits on."""
        flow = self.flow(ctx)
        return next((s for s in flow.steps if s.id == ctx.step), None) if flow else None

    async def start(self, turn: Turn, name: str, parse: ParseResult) -> None:
        """Begin flow ``name``, filling slots from the message and the conversation's memory."""
        ctx = turn.context
        assert ctx is not None
        if ctx.flow:  # interrupting another flow: keep it to resume afterwards
            ctx.flow_stack.append(
                {
                    "flow": ctx.flow,
                    "step": ctx.step,
                    "slots": ctx.slots,
                    "state": {k: v for k, v in ctx.state.items() if k != "memory"},
                }
            )
        memory = ctx.state.get("memory", {})
        ctx.flow, ctx.step, ctx.slots = name, None, {}
        ctx.state = {"memory": memory, "results": {}, "confirmed": [], "reasks": 0}
        filled = self.fill_from(ctx, parse)
        carried = [n for n in filled if from_entities(self.config.slots[n], parse) is None]
        first = len(turn.replies)
        await self.advance(turn, 0)
        self._name_carried(turn, carried, first)

    def _name_carried(self, turn: Turn, carried: list[str], at: int) -> None:
        """Say which remembered value a flow with side effects took, before its first question.

        "我要开发票" after a lookup reuses that order; the customer must see which one
        while there is still time to give another.
        """
        ctx = turn.context
        flow = self.flow(ctx) if ctx else None
        step = self.current_step(ctx) if ctx else None
        if ctx is None or flow is None or step is None or step.type != "slot":
            return
        if not any(s.type == "confirm" for s in flow.steps):
            return
        for name in carried:
            if f"carried_{name}" in self.templates:
                note = self.templates.render(f"carried_{name}", ctx.lang, values(ctx))
                turn.replies.insert(at, note)

    async def restart(self, turn: Turn) -> None:
        """Run the flow again from its start with the slots it has (after a value changed).

        Lookups and eligibility checks run again for the new value; confirmations
        given for the old one no longer count.
        """
        ctx = turn.context
        assert ctx is not None
        ctx.state.update(results={}, confirmed=[], reasks=0)
        ctx.state.pop("confirm_token", None)
        await self.advance(turn, 0)

    def fill_from(self, ctx: Context, parse: ParseResult, *, overwrite: bool = False) -> list[str]:
        """Fill the flow's slots from entities (and remembered values); names of slots set."""
        flow = self.flow(ctx)
        filled = []
        for slot_name in slot_names(flow) if flow else set():
            spec = self.config.slots[slot_name]
            value = from_entities(spec, parse)
            if value is None and spec.remember and not ctx.slots.get(slot_name):
                value = ctx.state.get("memory", {}).get(slot_name)
            if value is None or (ctx.slots.get(slot_name) and not overwrite):
                continue
            try:
                ctx.slots[slot_name] = validate(spec, value)
                filled.append(slot_name)
            except InvalidSlot:
                continue
        for extra in ("date", "address", "phone"):  # conditions may depend on these
            if extra not in ctx.slots and (e := parse.entity(extra)) is not None:
                ctx.slots[extra] = e.normalized if extra in ("date", "phone") else e.value
        return filled

    def take_values(self, ctx: Context, parse: ParseResult) -> tuple[list[str], list[str]]:
        """Fill slots from the message, replacing values: (names changed, names newly set)."""
        before = dict(ctx.slots)
        filled = self.fill_from(ctx, parse, overwrite=True)
        changed = [n for n in filled if before.get(n) and before[n] != ctx.slots[n]]
        added = [n for n in filled if not before.get(n)]
        return changed, added

    async def advance(self, turn: Turn, index: int) -> None:
        """Run steps from ``index`` until one needs the user, or the flow ends."""
        ctx = turn.context
        flow = self.flow(ctx) if ctx else None
        assert ctx is not None and flow is not None
        while index < len(flow.steps):
            step = flow.steps[index]
            if (step.when and not holds(ctx, step.when)) or (
                step.unless and holds(ctx, step.unless)
            ):
                index += 1
                continue
            jump = await self._run(turn, flow, step)
            if jump == "wait":
                ctx.step = step.id
                return
            if jump == "end":
                break
            index = next(i for i, s in enumerate(flow.steps) if s.id == jump) if jump else index + 1
        self.finish(turn)

    async def _run(self, turn: Turn, flow: Flow, step: Step) -> str | None:
        """Run one step: ``wait`` for input, ``end``, a step id to jump to, or None to go on."""
        ctx = turn.context
        assert ctx is not None
        if step.type == "slot":
            assert step.slot is not None
            if ctx.slots.get(step.slot):
                return None
            self.say(turn, self.config.slots[step.slot].prompt)
            return "wait"
        if step.type == "confirm":
            if step.id in ctx.state.get("confirmed", []):
                return None
            self.ask_confirm(turn, step)
            return "wait"
        if step.type == "action":
            return await self._action(ctx, step)
        if step.type == "reply":
            self.say(turn, step.template or "")
            return "end" if step.end else None
        turn.escalation = step.reason or f"flow:{ctx.flow}"
        return "end"

    async def _action(self, ctx: Context, step: Step) -> str | None:
        assert step.action is not None
        try:
            if self.backend is None:
                raise ActionError("no backend configured", "unreachable")
            result = await self.backend.run(step.action, values(ctx))
        except ActionError as exc:
            ctx.state["error"] = exc.code
            log.info(
                "flow action failed",
                extra={"flow": ctx.flow, "step": step.id, "error": str(exc), "code": exc.code},
            )
            return step.on_error or "end"
        ctx.state.setdefault("results", {})[step.action.store] = result
        return None

    def finish(self, turn: Turn) -> None:
        """End the active flow: remember what should carry over, then resume an interrupted one."""
        ctx = turn.context
        assert ctx is not None
        memory = ctx.state.get("memory", {})
        for name, value in ctx.slots.items():
            if self.config.slots.get(name) and self.config.slots[name].remember:
                memory[name] = value
        # kept so that "不对，是 20231122002" right after an answer can ask it again; and
        # whether it got as far as a confirmation (then a new number alone starts nothing)
        finished, confirmed = ctx.flow, bool(ctx.state.get("confirm_asked"))
        ctx.flow, ctx.step, ctx.slots = None, None, {}
        ctx.state = {"memory": memory, "last_flow": finished, "last_confirmed": confirmed}
        if ctx.flow_stack:
            saved = ctx.flow_stack.pop()
            ctx.flow, ctx.step, ctx.slots = saved["flow"], saved["step"], saved["slots"]
            ctx.state = {**saved["state"], "memory": memory}
            self.say(turn, "resume")
            self.reprompt(turn)

    def cancel(self, ctx: Context) -> None:
        """Drop the active flow and everything it interrupted."""
        memory = ctx.state.get("memory", {})
        ctx.reset_flow()
        ctx.state = {"memory": memory}

    def reprompt(self, turn: Turn) -> None:
        """Ask the pending question of the active flow again."""
        ctx = turn.context
        step = self.current_step(ctx) if ctx else None
        if step is None:
            return
        if step.type == "slot" and step.slot:
            self.say(turn, self.config.slots[step.slot].prompt)
        elif step.type == "confirm" and step.template:
            self.ask_confirm(turn, step)

    def ask_confirm(self, turn: Turn, step: Step) -> None:
        """Ask a confirmation; its buttons carry a token so a stale press is recognised."""
        ctx = turn.context
        assert ctx is not None and step.template is not None
        token = ctx.state.get("confirm_token") or secrets.token_hex(3)
        ctx.state["confirm_token"] = token
        ctx.state["confirm_asked"] = True  # outlives the token: see finish
        reply = self.templates.render(step.template, ctx.lang, values(ctx))
        marked = tuple(replace(b, payload=f"{b.payload}{TOKEN_MARK}{token}") for b in reply.buttons)
        turn.replies.append(replace(reply, buttons=marked))

    def pending_token(self, ctx: Context) -> str | None:
        """The token a button must carry to answer the confirmation the flow waits on."""
        step = self.current_step(ctx)
        return ctx.state.get("confirm_token") if step and step.type == "confirm" else None
