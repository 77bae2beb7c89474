"""The dialog engine: the bot-mode brain that decides what to say next.

For each turn it parses the message (NLU), then, in order:

1. events (a WeChat subscribe gets the welcome) and sensitive words;
2. inside a flow: global intents (then the pending question again), a
   correction of a filled slot, the pending confirmation or slot, an FAQ as
   an interruption (then the pending question again), another flow as an
   interruption (resumed afterwards), else a re-ask up to the slot's limit;
3. outside a flow: global intents, flow triggers (slots filled from the
   message and from what the conversation remembers), FAQs, and the fallback
   policy: not understood, then an offer of a human, then an escalation.
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot import metrics
from bot.models import Button, MessageKind
from bot.turn import Turn
from dialog.config import DialogConfig
from dialog.faq import FaqIndex
from dialog.flows import FlowRunner
from dialog.slots import InvalidSlot, free_text, from_entities, is_correction, validate
from nlu.service import Warming
from nlu.types import NLU, OUT_OF_SCOPE, IntentScore, ParseResult

_NEGATED = re.compile(
    r"(不想|不要|不用|不打算|别|算了|不).{0,3}(退|换|改|开|查|投诉)|don't want|no longer"
)
_POSITIVE_FLOWS = {"return_refund", "change_address", "invoice"}
# A new request may interrupt a flow from this confidence on. The intents split their
# mass (订单…到哪了 is part order_status, part track_shipment), so it is below one half.
REQUEST_CONFIDENCE = 0.4


class DialogEngine:
    """Implements :class:`bot.brain.Brain`."""

    def __init__(self, config: DialogConfig, *, nlu: NLU, runner: FlowRunner) -> None:
        self.config = config
        self.nlu = nlu
        self.runner = runner
        self.faq = FaqIndex(config.faqs)
        self.triggers = {t: name for name, flow in config.flows.items() for t in flow.triggers}

    async def respond(self, turn: Turn) -> None:
        """Answer one turn in bot mode."""
        ctx, msg = turn.context, turn.message
        assert ctx is not None
        if msg.kind is MessageKind.EVENT:
            self._event(turn)
            return
        try:
            parse = await self._parse(turn)
        except Warming:  # a fresh install's first minute: say so rather than go silent
            self.runner.say(turn, "warming_up")
            return
        turn.parse = parse
        if ctx.history and ctx.history[-1].get("role") == "user":
            ctx.history[-1]["intent"] = parse.intent.name
        if parse.blocked:
            self.runner.say(turn, "sensitive")
            return
        intent = self._effective_intent(parse)
        if ctx.flow and ctx.step and await self._in_flow(turn, parse, intent):
            return
        await self._top_level(turn, parse, intent)

    # -- parsing --------------------------------------------------------------

    async def _parse(self, turn: Turn) -> ParseResult:
        msg = turn.message
        payload = msg.payload or ""
        if payload.startswith("/"):  # a button: the intent is known
            name = payload[1:]
            return ParseResult(
                text=msg.text or payload,
                normalized=payload,
                intent=IntentScore(name, 1.0),
                ranking=(IntentScore(name, 1.0),),
            )
        return await self.nlu.parse(msg.text or payload, turn.context)

    def _effective_intent(self, parse: ParseResult) -> str:
        """The intent to act on: out of scope below the threshold; a negated request is cancel."""
        name = parse.intent.name
        if parse.intent.confidence < self.config.confidence_threshold:
            name = OUT_OF_SCOPE
        if name in _POSITIVE_FLOWS and _NEGATED.search(parse.text.lower()):
            return "cancel"
        return name

    # -- inside a flow ----------------------------------------------------------

    async def _in_flow(self, turn: Turn, parse: ParseResult, intent: str) -> bool:
        ctx = turn.context
        step = self.runner.current_step(ctx) if ctx else None
        if ctx is None or step is None:
            return False
        free = bool(step.type == "slot" and step.slot and self.config.slots[step.slot].free_text)
        if intent in self.config.globals and (not free or self._breaks_free_text(parse, intent)):
            await self._global(turn, intent)
            return True
        if is_correction(parse.text) and self.runner.fill_from(ctx, parse, overwrite=True):
            ctx.state["confirmed"] = []
            self.runner.reprompt(turn)
            return True
        if step.type == "confirm":
            return await self._confirm(turn, parse, intent, step.id, step.on_deny)
        if intent == "deny" and parse.intent.confidence >= 0.85:  # "不用了" to a question: stop
            self.runner.cancel(ctx)
            self.runner.say(turn, "cancelled")
            return True
        if self._policy_question(turn, parse, intent):
            self.runner.reprompt(turn)
            return True
        flow = self.triggers.get(intent)
        if flow and flow != ctx.flow and is_request(parse):
            await self.runner.start(turn, flow, parse)
            return True
        if free and self._faq(turn, parse, intent):  # a question, not the free-text answer
            self.runner.reprompt(turn)
            return True
        if step.slot and await self._fill(turn, parse, step.slot):
            return True
        if self._faq(turn, parse, intent):
            self.runner.reprompt(turn)
            return True
        if flow and flow != ctx.flow:
            await self.runner.start(turn, flow, parse)
            return True
        self._reask(turn, step.slot)
        return True

    @staticmethod
    def _breaks_free_text(parse: ParseResult, intent: str) -> bool:
        """Awaiting a free-text answer, only a clear cancel or call for a human interrupts."""
        return intent in ("cancel", "human_agent") and parse.intent.confidence >= 0.85

    async def _confirm(
        self, turn: Turn, parse: ParseResult, intent: str, step_id: str, on_deny: str | None
    ) -> bool:
        ctx = turn.context
        assert ctx is not None
        if intent == "affirm":
            ctx.state.setdefault("confirmed", []).append(step_id)
            await self._advance_from(turn, step_id)
        elif intent in ("deny", "cancel"):
            if on_deny:
                await self._advance_from(turn, on_deny)
            else:
                self.runner.cancel(ctx)
                self.runner.say(turn, "cancelled")
        elif self._faq(turn, parse, intent):
            self.runner.reprompt(turn)
        else:
            self._reask(turn, None)
        return True

    async def _fill(self, turn: Turn, parse: ParseResult, slot: str) -> bool:
        ctx = turn.context
        assert ctx is not None
        spec = self.config.slots[slot]
        value = from_entities(spec, parse)
        if value is None and spec.free_text and self.runner.fill_from(ctx, parse, overwrite=True):
            # e.g. an order number typed when asked for a reason: it corrects the order,
            # it is not the reason; ask the pending question again
            ctx.state["confirmed"] = []
            self.runner.reprompt(turn)
            return True
        if value is None and intent_is_answer(parse, self.triggers, ctx.flow):
            value = free_text(spec, parse)
        if value is None:
            return False
        try:
            ctx.slots[slot] = validate(spec, value)
        except InvalidSlot:
            self._reask(turn, slot)
            return True
        self.runner.fill_from(ctx, parse)
        ctx.state["reasks"] = 0
        await self._advance_from(turn, ctx.step or "")
        return True

    async def _advance_from(self, turn: Turn, step_id: str) -> None:
        ctx = turn.context
        flow = self.runner.flow(ctx) if ctx else None
        assert flow is not None
        index = next(i for i, s in enumerate(flow.steps) if s.id == step_id)
        await self.runner.advance(turn, index)

    def _reask(self, turn: Turn, slot: str | None) -> None:
        ctx = turn.context
        assert ctx is not None
        ctx.state["reasks"] = int(ctx.state.get("reasks", 0)) + 1
        limit = self.config.slots[slot].max_reasks if slot else 2
        if ctx.state["reasks"] > limit:
            self.runner.cancel(ctx)
            self.runner.say(turn, "reask_failed")
            return
        self.runner.reprompt(turn)

    # -- outside a flow ---------------------------------------------------------

    async def _top_level(self, turn: Turn, parse: ParseResult, intent: str) -> None:
        ctx = turn.context
        assert ctx is not None
        offered = ctx.state.pop("offered_human", False)
        if intent in self.config.globals:
            ctx.fallback_count = 0
            await self._global(turn, intent)
        elif self._policy_question(turn, parse, intent):
            ctx.fallback_count = 0
        elif self._which_first(turn, parse):
            ctx.fallback_count = 0
        elif intent in self.triggers:
            ctx.fallback_count = 0
            await self.runner.start(turn, self.triggers[intent], parse)
        elif self._faq(turn, parse, intent):
            ctx.fallback_count = 0
        elif offered and intent == "affirm":
            await self._global(turn, "human_agent")
        elif offered and intent == "deny":
            ctx.fallback_count = 0
            self.runner.say(turn, "thanks")
        else:
            self._fallback(turn)

    async def _global(self, turn: Turn, intent: str) -> None:
        ctx = turn.context
        assert ctx is not None
        rule = self.config.globals[intent]
        if rule.cancel:
            self.runner.cancel(ctx)
        if rule.reply:
            self.runner.say(turn, rule.reply)
        if rule.escalate:
            self.runner.cancel(ctx)
            turn.escalation = rule.escalate
        elif rule.resume and ctx.flow:
            self.runner.reprompt(turn)

    def _which_first(self, turn: Turn, parse: ParseResult) -> bool:
        """Two requests in one message ("快递到哪了？还有我要开发票"): ask which to take first.

        Each flow asks its own questions, so running both at once would interleave
        them; one button per request, in the order written, keeps it one at a time.
        """
        names = [r for r in parse.extra.get("requests", ()) if r in self.triggers]
        names = [r for r in names if f"request_{r}" in self.runner.templates]
        if len(names) < 2:
            return False
        ctx = turn.context
        assert ctx is not None
        render = self.runner.templates.render
        buttons = tuple(Button(render(f"request_{r}", ctx.lang, {}).text, f"/{r}") for r in names)
        turn.replies.append(replace(render("which_first", ctx.lang, {}), buttons=buttons))
        return True

    def _policy_question(self, turn: Turn, parse: ParseResult, intent: str) -> bool:
        """Answer a flow's intent that is really a question the FAQ answers word for word.

        "怎么换货" or "可以开专票吗" name a flow's topic but ask about the rules;
        starting the flow would ask for an order number nobody offered. A message
        that names an order or parcel is about that order, so it goes to the flow.
        """
        if intent not in self.triggers or parse.entity("order_id") or parse.entity("tracking_no"):
            return False
        return self._faq(turn, parse, intent, threshold=self.config.faq_first)

    def _faq(
        self, turn: Turn, parse: ParseResult, intent: str, *, threshold: float | None = None
    ) -> bool:
        """Answer from the FAQ list if the question is close enough to a listed one."""
        match = self.faq.best(parse.text)
        if threshold is None:
            faq = self.config.faq_threshold
            threshold = faq if intent == "faq" else max(0.7, faq)
        if match is None or match.score < threshold:
            return False
        ctx = turn.context
        assert ctx is not None
        answer = match.answer.get(ctx.lang) or match.answer.get("zh-CN") or ""
        turn.say(answer)
        ctx.state["last_faq"] = match.faq_id
        return True

    def _fallback(self, turn: Turn) -> None:
        ctx = turn.context
        assert ctx is not None
        metrics.FALLBACKS.inc()
        ctx.fallback_count += 1
        if ctx.fallback_count >= 3:
            ctx.fallback_count = 0
            turn.escalation = "fallback"
        elif ctx.fallback_count == 2:
            ctx.state["offered_human"] = True
            self.runner.say(turn, "offer_human")
        else:
            self.runner.say(turn, "not_understood")

    def _event(self, turn: Turn) -> None:
        ctx, event = turn.context, turn.message.event
        assert ctx is not None
        if event == "subscribe":
            self.runner.say(turn, "welcome")
        elif event == "unsubscribe":
            self.runner.cancel(ctx)
            ctx.state = {}
            ctx.history = []


_FILLER = re.compile(r"订单号?|单号|运单|order|number|no\.?|是|的|[\s,.:：，。#!?！？]")


def is_request(parse: ParseResult) -> bool:
    """A confident request with words beyond its values (订单X到哪了, not 订单号X)."""
    if parse.intent.confidence < REQUEST_CONFIDENCE:
        return False
    text = parse.text
    for entity in sorted(parse.entities, key=lambda e: -e.start):
        text = text[: entity.start] + text[entity.end :]
    return len(_FILLER.sub("", text.lower())) >= 2


def intent_is_answer(parse: ParseResult, triggers: dict[str, str], flow: str | None) -> bool:
    """Whether a message can be a free-text answer (not a request for another flow)."""
    other = triggers.get(parse.intent.name) not in (None, flow)
    return not other or parse.intent.confidence < 0.8
