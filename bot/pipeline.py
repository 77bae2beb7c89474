"""The message pipeline: a fixed sequence of steps with one signature.

Every step is ``async def __call__(turn, call_next)``: it may act before
calling the rest of the chain, after it returns, or stop the turn by not
calling it. :func:`bot.steps.default_steps` is the one place to read their order::

    Guard         reject unknown platforms and empty messages (logged)
    Dedupe        claim the platform message id (SET NX, processing -> done),
                  with the conversation's first acquire in the same script
    RecordTurn    append the message and its replies to the durable record (queued)
    RateLimit     per user, in Redis; one polite notice per window
    Conversation  wait for this message's turn in the conversation (arrival
                  order, across replicas) and load the context ... at the end,
                  save the context, mark the message done and release, atomically
    Send          ... deliver the replies once the route below has produced them
    Route         human mode: relay to the agent; bot mode: NLU, then dialog

So one message goes: dedupe, rate limit, order, load, route, send, save, done.
Three Redis round trips carry a normal turn: claim+acquire+load (one script:
the dedupe marker shares the conversation's hash slot), rate limit (the user's
slot), commit (save+done+release); each reply but the last adds its ledger mark.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot import metrics
from bot.errors import DeliveryError, StoreUnavailable
from bot.models import InboundMessage
from bot.turn import Outcome, ReplySink, Turn

log = logging.getLogger(__name__)

Next = Callable[[Turn], Awaitable[None]]


class Step(Protocol):
    """One stage of the pipeline."""

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        """Act on ``turn``; call ``call_next(turn)`` to continue the chain."""


async def _end(turn: Turn) -> None:
    """The end of the chain: nothing left to do."""


class Pipeline:
    """Runs every inbound message through the same steps."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = tuple(steps)
        self._chain = _compose(self.steps)

    async def handle(self, message: InboundMessage, sink: ReplySink) -> Turn:
        """Process one message; never raises, the outcome says what happened."""
        turn = Turn(message=message, sink=sink)
        platform = message.platform
        metrics.MESSAGES_IN.labels(platform).inc()
        try:
            await self._chain(turn)
        except (StoreUnavailable, RedisConnectionError, RedisTimeoutError) as exc:
            turn.stop(Outcome.UNAVAILABLE, type(exc).__name__)
            log.error(
                "redis unavailable; the platform will retry",
                extra={"conversation": turn.conversation, "error": str(exc)},
            )
        except DeliveryError as exc:
            turn.stop(Outcome.FAILED, f"delivery failed: {exc.code or exc}")
            log.error(
                "reply not delivered",
                extra={
                    "conversation": turn.conversation,
                    "platform": platform,
                    "code": exc.code,
                    "retryable": exc.retryable,
                    "error": str(exc),
                },
            )
        except Exception as exc:
            turn.stop(Outcome.FAILED, type(exc).__name__)
            log.exception(
                "message failed; released for retry",
                extra={"conversation": turn.conversation, "platform": platform},
            )
        metrics.OUTCOMES.labels(platform, turn.outcome.value).inc()
        metrics.PIPELINE_LATENCY.labels(platform).observe(time.perf_counter() - turn.started)
        return turn


def _compose(steps: Sequence[Step]) -> Next:
    """Build ``steps[0](turn, lambda t: steps[1](t, ...))`` once, not per message."""
    chain: Next = _end
    for step in reversed(steps):
        chain = _link(step, chain)
    return chain


def _link(step: Step, call_next: Next) -> Next:
    async def run(turn: Turn) -> None:
        await step(turn, call_next)

    return run
