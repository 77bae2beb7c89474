"""Messages already acknowledged whose turn fails: this replica runs them again.

A platform delivers again what was not acknowledged, and adapters acknowledge a
message only once its turn has ended, so a failed turn normally gets the
platform's retry (a 503, no ack). But a turn still running when the platform's
patience runs out is acknowledged anyway (WeChat past its passive-reply budget,
Slack, DingTalk and Feishu past the ack budget, Feishu's long connection at
once): should it fail after that (Redis restarted, a backend down), no retry
will ever come. The replica that acknowledged it keeps the message and runs it
again, after pauses that double, until a turn ends or the attempts are spent,
which is logged as an error, never silent. The dedupe marker the failed turn
released makes the new turn a retry, so replies that went out are not repeated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from bot.turn import Turn

log = logging.getLogger(__name__)

Again = Callable[[], "asyncio.Task[Turn]"]  # starts the message's turn once more
Spawn = Callable[..., "asyncio.Task[Any]"]


class LateRetries:
    """Runs acknowledged messages again when their turn asks for a redelivery."""

    def __init__(self, spawn: Spawn, *, first_pause_s: float, attempts: int) -> None:
        self._spawn = spawn  # background work that shutdown drains
        self._pause_s = first_pause_s
        self._attempts = attempts

    def keep(self, task: asyncio.Task[Turn], again: Again) -> None:
        """``task`` is a turn acknowledged to the platform: if it fails, ``again``."""
        task.add_done_callback(partial(self._ended, again, 1))

    def _ended(self, again: Again, attempt: int, task: asyncio.Task[Turn]) -> None:
        if task.cancelled() or not task.result().outcome.retry_helps:
            return  # answered, a duplicate, or shutdown (whose drain logs what it left)
        if attempt > self._attempts:
            log.error(
                "acknowledged message still failing; given up",
                extra={"platform": task.result().message.platform, "attempts": self._attempts},
            )
            return
        self._spawn(self._again(again, attempt), name="late-retry")

    async def _again(self, again: Again, attempt: int) -> None:
        # A pause, not a poll: what failed (Redis, a backend) needs time to come back.
        await asyncio.sleep(self._pause_s * 2 ** (attempt - 1))
        log.info("acknowledged message run again", extra={"attempt": attempt})
        again().add_done_callback(partial(self._ended, again, attempt + 1))
