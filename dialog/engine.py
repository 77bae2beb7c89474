"""The dialog engine: the bot-mode brain that decides what to say next.

For each turn it parses the message (NLU), then, in order:

1. events (a WeChat subscribe gets the welcome), sensitive words, a stale
   confirm button (its request was handled or has expired), and small talk the
   model has no class for ("are you a bot?", abuse), then the pending question;
2. inside a flow: a value that corrects a filled slot or fills one the flow
   branches on (acknowledged, and the flow runs again from its start, so
   lookups and eligibility checks see the new value), global intents (then the
   pending question again), the pending confirmation or slot, an FAQ as
   an interruption (then the pending question again), another flow as an
   interruption (resumed afterwards), else a re-ask up to the slot's limit;
3. outside a flow: a value alone right after an answer asks that request again
   (``dialog/again.py``), global intents, flow triggers (slots filled from the
   message and from what the conversation remembers), FAQs, and the fallback
   policy: not understood, then an offer of a human, then an escalation.
"""

from __future__ import annotations

from bot import metrics
from bot.models import MessageKind, Reply
from bot.turn import Turn
from dialog.again import AskAgain
from dialog.choices import WhichFirst
from dialog.config import DialogConfig
from dialog.faq import FaqIndex
from dialog.flows import TOKEN_MARK, FlowRunner
from dialog.reading import (
    DROPPED,
    NEGATED,
    POSITIVE_FLOWS,
    intent_is_answer,
    is_question,
    is_request,
    off_topic,
)
from dialog.slots import (
    InvalidSlot,
    free_text,
    from_entities,
    is_correction,
    recognised,
    validate,
)
from dialog.smalltalk import small_talk
from dialog.templates import buttons
from nlu.service import Warming
from nlu.types import NLU, OUT_OF_SCOPE, IntentScore, ParseResult


class DialogEngine:
    """Implements :class:`bot.brain.Brain`."""

    def __init__(self, config: DialogConfig, *, nlu: NLU, runner: FlowRunner) -> None:
        self.config = config
        self.nlu = nlu
        self.runner = runner
        self.faq = FaqIndex(config.faqs)
        self.triggers = {t: name for name, flow in config.flows.items() for t in flow.triggers}
        self.which_first = WhichFirst(runner, self.triggers)
        self.ask_again = AskAgain(config, runner)

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
        offered = ctx.state.pop("which_first", None)  # asked last turn only
        if offered and not ctx.flow and await self.which_first.answer(turn, parse, intent, offered):
            return
        if self._stale_button(turn, parse) or self._small_talk(turn, parse):
            return
        if ctx.flow and ctx.step and await self._in_flow(turn, parse, intent):
            return
        await self._top_level(turn, parse, intent)

    # -- parsing --------------------------------------------------------------

    async def _parse(self, turn: Turn) -> ParseResult:
        msg = turn.message
        payload = msg.payload or ""
        if payload.startswith("/"):  # a button: the intent is known
            name, _, token = payload[1:].partition(TOKEN_MARK)
            return ParseResult(
                text=msg.text or payload,
                normalized=payload,
                intent=IntentScore(name, 1.0),
                ranking=(IntentScore(name, 1.0),),
                extra={"button_token": token} if token else {},
            )
        return await self.nlu.parse(msg.text or payload, turn.context)

    def _effective_intent(self, parse: ParseResult) -> str:
        """The intent to act on: out of scope below the threshold; a negated request is cancel."""
        name = parse.intent.name
        if parse.intent.confidence < self.config.confidence_threshold:
            name = OUT_OF_SCOPE
        if name in POSITIVE_FLOWS and NEGATED.search(parse.text.lower()):
            return "cancel"
        return name

    def _stale_button(self, turn: Turn, parse: ParseResult) -> bool:
        """A confirm button whose confirmation is no longer pending: say so, do nothing."""
        token = parse.extra.get("button_token")
        ctx = turn.context
        assert ctx is not None
        if token is None or (ctx.flow and token == self.runner.pending_token(ctx)):
            return False
        self.runner.say(turn, "button_expired")
        self.runner.reprompt(turn)
        return True

    def _small_talk(self, turn: Turn, parse: ParseResult) -> bool:
        """Answer "are you a bot?" or abuse (never with a greeting), then resume the flow."""
        kind = small_talk(parse.text)
        if kind is None:
            return False
        self.runner.say(turn, kind)
        self.runner.reprompt(turn)
        return True

    # -- inside a flow ----------------------------------------------------------

    async def _in_flow(self, turn: Turn, parse: ParseResult, intent: str) -> bool:
        ctx = turn.context
        step = self.runner.current_step(ctx) if ctx else None
        if ctx is None or step is None:
            return False
        free = bool(step.type == "slot" and step.slot and self.config.slots[step.slot].free_text)
        if await self._new_values(turn, parse, intent):
            return True
        if step.type == "confirm" and DROPPED.search(parse.text.lower()):
            intent = "cancel"
        # at a confirmation "cancel" is its "no" (on_deny: "不取消了" keeps the order)
        answers = step.type == "confirm" and intent == "cancel"
        if intent in self.config.globals and not answers:
            if not free or self._breaks_free_text(parse, intent, step.slot):
                await self._global(turn, intent)
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

    async def _new_values(self, turn: Turn, parse: ParseResult, intent: str) -> bool:
        """Values for slots other than the one asked: a correction, or a value the flow uses.

        "no wait, order 20231122003" at any step, the confirmation included, replaces
        the order and says so; a tracking number where an order number was asked
        identifies the parcel. Either way the flow runs again from its start.
        """
        ctx = turn.context
        step = self.runner.current_step(ctx) if ctx else None
        if ctx is None or step is None or not parse.entities:
            return False
        correcting = is_correction(parse.text)
        other = self.triggers.get(intent) not in (None, ctx.flow) and is_request(parse)
        if not correcting and (intent in self.config.globals or other):
            return False
        if step.slot and from_entities(self.config.slots[step.slot], parse) is not None:
            return False  # the answer to the question asked: filled as usual
        changed, added = self.runner.take_values(ctx, parse)
        if not (changed or added):
            return False
        for name in changed:
            ack = f"corrected_{name}"
            self.runner.say(turn, ack if ack in self.runner.templates else "corrected")
        await self.runner.restart(turn)
        return True

    def _breaks_free_text(self, parse: ParseResult, intent: str, slot: str | None) -> bool:
        """Awaiting a free-text answer, only a clear cancel or call for a human interrupts."""
        if intent not in ("cancel", "human_agent") or parse.intent.confidence < 0.85:
            return False
        return not (slot and recognised(self.config.slots[slot], parse.text))

    async def _confirm(
        self, turn: Turn, parse: ParseResult, intent: str, step_id: str, on_deny: str | None
    ) -> bool:
        ctx = turn.context
        assert ctx is not None
        if intent == "affirm":
            ctx.state.pop("confirm_token", None)  # its buttons are spent
            ctx.state.setdefault("confirmed", []).append(step_id)
            await self._advance_from(turn, step_id)
        elif intent in ("deny", "cancel"):
            ctx.state.pop("confirm_token", None)
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
        if value is None and intent_is_answer(parse, self.triggers, ctx.flow):
            value = free_text(spec, parse)
        if value is None:
            return False
        try:
            ctx.slots[slot] = validate(spec, value)
        except InvalidSlot:
            self._reask(turn, slot)
            return True
        turn.answered_slot = True  # an order number is an answer, not a miss (bot report)
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
        if not is_request(parse) and await self.ask_again(turn, parse):
            # a value alone after an answer is for the same request, whatever the model makes
            # of it (a bare order number reads as order_status, "ok then 2023…" as goodbye)
            ctx.fallback_count = 0
        elif intent in self.config.globals:
            ctx.fallback_count = 0
            await self._global(turn, intent)
        elif self._policy_question(turn, parse, intent):
            ctx.fallback_count = 0
        elif self.which_first.ask(turn, parse):
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
        elif await self.ask_again(turn, parse):
            ctx.fallback_count = 0
        elif intent in ("affirm", "deny"):  # "ok" / "好的" after an answer: no question, no miss
            ctx.fallback_count = 0
            self.runner.say(turn, "anything_else")
        elif off_topic(parse):
            self.runner.say(turn, "off_topic")
        else:
            self._fallback(turn)

    async def _global(self, turn: Turn, intent: str) -> None:
        ctx = turn.context
        assert ctx is not None
        rule = self.config.globals[intent]
        reply = rule.reply
        if rule.cancel:
            if not ctx.flow and rule.idle_reply:
                reply = rule.idle_reply
            self.runner.cancel(ctx)
        if reply:
            self.runner.say(turn, reply)
        if rule.escalate:
            self.runner.cancel(ctx)
            turn.escalation = rule.escalate
        elif rule.resume and ctx.flow:
            self.runner.reprompt(turn)

    def _policy_question(self, turn: Turn, parse: ParseResult, intent: str) -> bool:
        """Answer a flow's intent that is really a question the FAQ answers word for word.

        "怎么换货" or "可以开专票吗" name a flow's topic but ask about the rules;
        starting the flow would ask for an order number nobody offered. A message
        that names an order or parcel is about that order, so it goes to the flow.
        """
        if intent not in self.triggers or parse.entity("order_id") or parse.entity("tracking_no"):
            return False
        if not is_question(parse.text):  # "I want to cancel my order" asks for the flow
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
        turn.replies.append(Reply(text=answer, buttons=buttons(list(match.buttons), ctx.lang)))
        ctx.state["last_faq"] = match.faq_id
        return True

    def _fallback(self, turn: Turn) -> None:
        ctx = turn.context
        assert ctx is not None
        metrics.FALLBACKS.inc()
        turn.fallback = True
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
