"""The pipeline's steps, in the order :func:`default_steps` runs them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from typing import Any

from bot import metrics
from bot.brain import Brain, Handoff
from bot.lang import detect_lang
from bot.models import MessageKind, Reply
from bot.pii import mask_pii
from bot.pipeline import Next, Step
from bot.records import Record, RecordWriter
from bot.settings import RateLimitRule
from bot.stores.context import ContextStore, decode_context
from bot.stores.dedupe import Claim, Deduper
from bot.stores.ordering import ConversationOrder, Lease, Waiter
from bot.stores.ratelimit import RateLimiter
from bot.stores.sent import SendLedger
from bot.texts import text
from bot.turn import Outcome, Turn

log = logging.getLogger(__name__)


class Guard:
    """Reject what no later step can handle: unknown platforms, empty messages."""

    def __init__(self, platforms: Callable[[], Collection[str]]) -> None:
        self._platforms = platforms

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        msg = turn.message
        if msg.platform not in self._platforms():
            turn.stop(Outcome.REJECTED, "unknown platform")
            log.warning("message from unknown platform rejected", extra={"platform": msg.platform})
            return
        if msg.kind is MessageKind.TEXT and not msg.text.strip():
            turn.stop(Outcome.REJECTED, "empty text")
            log.info("empty message ignored", extra={"conversation": turn.conversation})
            return
        await call_next(turn)


class Dedupe:
    """Claim the platform message; mark it done after, or release it on failure.

    A new message (no marker yet) is claimed in the same round trip as its
    conversation's first acquire: the place taken rides on ``turn.waiter`` to
    the conversation step, and is given up here if the turn stops or fails
    before that step took it over. Any other message (a retry, a duplicate)
    goes through the whole claim protocol.

    A retry of a message in flight elsewhere waits up to ``inflight_wait_s``:
    long enough for a crashed owner's heartbeat to expire, so the retry (often
    the platform's last) takes the message over instead of being dropped.
    """

    def __init__(
        self,
        deduper: Deduper,
        *,
        order: ConversationOrder,
        inflight_wait_s: float = 0.0,
    ) -> None:
        self._deduper = deduper
        self._order = order
        self._wait_s = inflight_wait_s

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        conv, mid = turn.conversation, turn.message.message_id
        claim = await self._claim(turn)
        turn.retry = claim is Claim.RETRY
        if not claim.ours:
            metrics.DEDUPE_HITS.labels(turn.message.platform).inc()
            turn.stop(Outcome.DUPLICATE if claim is Claim.DONE else Outcome.IN_FLIGHT)
            return
        try:
            await call_next(turn)
        except BaseException:
            await give_up_place(turn, self._order)
            await self._deduper.release(conv, mid)
            raise
        finally:
            self._deduper.finished(conv, mid)
        if not turn.committed:  # stopped before the conversation step, e.g. rate-limited
            await self._done(turn)

    async def _claim(self, turn: Turn) -> Claim:
        conv, mid = turn.conversation, turn.message.message_id
        found = await self._deduper.claim_queued(conv, mid, self._order)
        if isinstance(found, Waiter):
            turn.waiter = found
            return Claim.NEW
        return await self._deduper.wait(conv, mid, self._wait_s, marker=found)

    async def _done(self, turn: Turn) -> None:
        """Mark a turn done that never committed; leave its place in the same round trip."""
        conv, mid = turn.conversation, turn.message.message_id
        waiter, turn.waiter = turn.waiter, None
        if waiter is None:
            await self._deduper.done(conv, mid)
        else:
            await self._deduper.done_leaving(conv, mid, self._order, waiter)


async def give_up_place(turn: Turn, order: ConversationOrder) -> None:
    """Leave the conversation place taken with the claim, if the turn still has it.

    Its lock (or its place in the queue) is dropped at once, as a failed turn's
    lease is released, so the conversation's next message does not wait for it.
    """
    if turn.waiter is not None:
        waiter, turn.waiter = turn.waiter, None
        await order.leave(waiter)


class RateLimit:
    """Per-user GCRA limit; the first message over it gets one polite notice."""

    def __init__(
        self,
        limiter: RateLimiter,
        rule_for: Callable[[str], RateLimitRule],
        *,
        order: ConversationOrder,
    ) -> None:
        self._limiter = limiter
        self._rule_for = rule_for
        self._order = order

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        msg = turn.message
        decision = await self._limiter.hit(msg.platform, msg.user_id, self._rule_for(msg.platform))
        if decision.allowed:
            await call_next(turn)
            return
        metrics.RATE_LIMITED.labels(msg.platform).inc()
        turn.stop(Outcome.RATE_LIMITED)
        if decision.notify:
            # Free the conversation before the platform call. A silent drop keeps the
            # place: the dedupe step leaves it as it marks the message done, one trip.
            await give_up_place(turn, self._order)
            notice = Reply(text=text("rate_limited", detect_lang(msg.text)))
            await turn.sink.deliver(msg.address, [notice])


class Conversation:
    """Hold the conversation and load its context; commit both atomically at the end.

    Acquiring waits for this message's turn in the conversation's arrival
    order and reads the context in the same round trip; for a new message the
    dedupe step has usually done that already, with its claim (``turn.waiter``).
    When the route and the send are done, one fenced script saves the context,
    marks the message done and releases the lock, so a turn's effects land all
    together or not at all. A turn that does not commit writes the send-ledger
    mark the send step left to the commit (``turn.unmarked``), then releases.
    """

    def __init__(
        self,
        order: ConversationOrder,
        contexts: ContextStore,
        ledger: SendLedger,
        *,
        done_ttl_s: int,
    ) -> None:
        self._order = order
        self._contexts = contexts
        self._ledger = ledger
        self._done_ttl_s = done_ttl_s

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        lease = await self._take(turn)
        metrics.LOCK_WAIT.observe(lease.waited_s)
        turn.lease = lease
        turn.context = decode_context(turn.conversation, lease.context)
        try:
            await call_next(turn)
            await self._contexts.commit(
                turn.context,
                lease_token=lease.token,
                message_id=turn.message.message_id,
                done_ttl_s=self._done_ttl_s,
            )
            turn.committed = True
        finally:
            if not turn.committed:
                await self._unwind(turn, lease)

    async def _take(self, turn: Turn) -> Lease:
        """The lease: from the place the dedupe step queued for, else queue up now."""
        if turn.waiter is None:
            return await self._order.acquire(turn.conversation, uuid.uuid4().hex)
        lease = await self._order.resume(turn.waiter)
        turn.waiter = None  # a lease from here on, released below like any other
        return lease

    async def _unwind(self, turn: Turn, lease: Lease) -> None:
        """No commit: the last reply that went out is marked before anyone can retry
        (the dedupe step releases the message after this), then the conversation is freed."""
        if turn.unmarked is not None:
            await self._ledger.mark(turn.conversation, turn.message.message_id, turn.unmarked)
        await self._order.release(lease)


class Send:
    """Deliver the route's replies in order, each at most once per message.

    Each reply is marked in the send ledger as soon as the platform took it; a
    turn that runs again (``turn.retry``) skips what the ledger lists. Inside
    the conversation step (the turn holds a lease) the last reply is the
    exception: the commit that follows it is the very next round trip, and it
    marks the message done, after which its ledger is never read. So that mark
    is left to the conversation step (``turn.unmarked``), which writes it only
    if the commit does not happen; the crash window stays one round trip.
    """

    def __init__(self, ledger: SendLedger) -> None:
        self._ledger = ledger

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        await call_next(turn)
        if not turn.replies:
            return
        conv, msg = turn.conversation, turn.message
        done = await self._ledger.sent(conv, msg.message_id) if turn.retry else set()
        last = len(turn.replies) - 1
        for index, reply in enumerate(turn.replies):
            if index in done:
                continue
            await turn.sink.deliver(msg.address, [reply])
            metrics.MESSAGES_OUT.labels(msg.platform).inc()
            if index == last and turn.lease is not None:
                turn.unmarked = index
            else:
                await self._ledger.mark(conv, msg.message_id, index)
        if done:
            log.info(
                "retried turn skipped replies already sent",
                extra={"conversation": conv, "skipped": len(done)},
            )


class Route:
    """Human mode: relay to the agent. Bot mode: the brain (NLU, then dialog)."""

    def __init__(self, *, brain: Brain, handoff: Handoff, max_text_chars: int, history_turns: int):
        self.brain = brain
        self.handoff = handoff
        self._max_chars = max_text_chars
        self._history = history_turns

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        ctx, msg = turn.context, turn.message
        assert ctx is not None, "Route runs after LoadContext"
        if msg.kind is MessageKind.TEXT and msg.text.strip():
            opening = not any(h.get("role") == "user" for h in ctx.history)
            ctx.lang = detect_lang(msg.text, ctx.lang, opening=opening)
        ctx.address = msg.address.to_dict()
        ctx.add_turn("user", msg.text[: self._max_chars], self._history, kind=msg.kind.value)
        if ctx.mode == "human":
            await self.handoff.relay_to_agent(turn)
        elif len(msg.text) > self._max_chars:
            log.info(
                "oversized message answered with a notice",
                extra={"conversation": turn.conversation, "chars": len(msg.text)},
            )
            turn.say(text("too_long", ctx.lang, limit=self._max_chars))
        elif msg.kind is MessageKind.MEDIA:
            turn.say(text("media_unsupported", ctx.lang))
        elif "rate_ticket" in ctx.state and await self.handoff.take_rating(turn):
            pass  # the answer to the satisfaction question after a resolve
        else:
            await self.brain.respond(turn)
            if turn.escalation and ctx.mode == "bot":
                await self.handoff.open_ticket(turn, turn.escalation)
        for reply in turn.replies:
            ctx.add_turn("bot", reply.text, self._history)
        await call_next(turn)


def default_steps(
    *,
    platforms: Callable[[], Collection[str]],
    deduper: Deduper,
    limiter: RateLimiter,
    rule_for: Callable[[str], RateLimitRule],
    order: ConversationOrder,
    contexts: ContextStore,
    done_ttl_s: int,
    route: Route,
    records: RecordWriter,
    ledger: SendLedger,
    inflight_wait_s: float = 0.0,
) -> list[Step]:
    """The pipeline, in order. Read this list to know what a message goes through."""
    return [
        Guard(platforms),
        Dedupe(deduper, order=order, inflight_wait_s=inflight_wait_s),
        RecordTurn(records),
        RateLimit(limiter, rule_for, order=order),
        Conversation(order, contexts, ledger, done_ttl_s=done_ttl_s),
        Send(ledger),
        route,
    ]


class RecordTurn:
    """Append the inbound message and its replies to the durable record, off the reply path."""

    def __init__(self, writer: RecordWriter) -> None:
        self._writer = writer

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        try:
            await call_next(turn)
        finally:
            for record in turn_records(turn):
                self._writer.add(record)


def _turn_data(turn: Turn) -> dict[str, object]:
    """What the dialog made of the message; the report and export-misses tell misses by it."""
    flags = {
        "escalation": turn.escalation,
        "fallback": turn.fallback,
        "answered_slot": turn.answered_slot,
        "guess": _guess(turn.parse),
    }
    return {key: value for key, value in flags.items() if value}


def _guess(parse: Any) -> str:
    """The model's best in-scope intent for an out-of-scope message: a hint for whoever labels
    misses (out_of_scope is a trained class, so it may also top the ranking itself)."""
    top = getattr(getattr(parse, "intent", None), "name", "")
    if top != "out_of_scope":
        return ""
    names = (getattr(r, "name", "") for r in getattr(parse, "ranking", None) or ())
    return next((n for n in names if n and n != "out_of_scope"), "")


def turn_records(turn: Turn) -> list[Record]:
    """The inbound record of a turn and one record per reply, text masked."""
    msg = turn.message
    top = getattr(turn.parse, "intent", None)
    ticket = (turn.context.ticket_id or "") if turn.context is not None else ""
    inbound = Record(
        kind="in",
        platform=msg.platform,
        conversation=turn.conversation,
        user_id=msg.user_id,
        text=mask_pii(msg.text[:2000]),
        message_id=msg.message_id,
        ticket_id=ticket,
        event=turn.outcome.value,
        intent=getattr(top, "name", "") or "",
        confidence=getattr(top, "confidence", None),
        data=_turn_data(turn),
    )
    if turn.outcome is not Outcome.REPLIED:
        return [inbound]
    return [inbound] + [
        Record(
            kind="out",
            platform=msg.platform,
            conversation=turn.conversation,
            user_id=msg.user_id,
            text=mask_pii(r.text),
            ticket_id=ticket,
        )
        for r in turn.replies
    ]
