"""Admission by latency: refuse new turns while a standing queue holds them past a target.

A fixed cap on turns in flight is wrong both ways. Set for cheap turns, it lets
expensive ones (the encoder on every message) queue for seconds before it
trips; set for expensive ones, it refuses cheap bursts the replica would have
answered in milliseconds. What the platforms care about is time: WeChat
gives up after 5 s, Slack after 3 s.

So admission follows CoDel's rule (Nichols and Jacobson, "Controlling Queue
Delay", 2012): a queue is harmful when even the *fastest* turn of an interval
took longer than the target. A burst passes (its first turns are fast); a
standing queue does not (every turn waits behind it). While the fastest turn
of the last interval exceeded a platform's target, that platform's new
messages are refused in the way it retries (a 503, no ack), so the retry
lands after the queue has drained, here or on another replica.

The minimum is taken over every platform's turns: the CPU and the event loop
are shared, so a fast WeChat turn proves there is no standing queue even when
Slack's own API is slow. ``max_in_flight`` stays as a memory guard.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

INTERVAL_S = 0.1  # CoDel's interval: long enough to hold several turns, short enough to react


class Admission:
    """Decides whether a replica takes another message now; see the module docstring."""

    def __init__(
        self,
        *,
        target_s: float,
        targets_s: Mapping[str, float] | None = None,
        max_in_flight: int,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target_s = target_s
        self._targets_s = dict(targets_s or {})
        self._max_in_flight = max_in_flight
        self._interval_s = interval_s
        self.clock = clock
        self._ends = clock() + interval_s
        self._fastest: float | None = None  # this interval's fastest turn so far
        self._last: float | None = None  # the previous interval's; None: no turn ended

    def target(self, platform: str) -> float:
        """The latency a turn of ``platform`` should stay under (seconds)."""
        return self._targets_s.get(platform, self._target_s)

    def finished(self, started: float) -> None:
        """A turn that began at ``started`` (this object's clock) has ended."""
        self._roll()
        took = self.clock() - started
        if self._fastest is None or took < self._fastest:
            self._fastest = took

    def admit(self, platform: str, in_flight: int) -> bool:
        """Whether a new message of ``platform`` is taken, with ``in_flight`` turns running."""
        if in_flight >= self._max_in_flight:
            return False
        self._roll()
        return self._last is None or self._last <= self.target(platform)

    def standing_s(self) -> float | None:
        """The last interval's fastest turn (seconds), None when no turn ended in it."""
        self._roll()
        return self._last

    def _roll(self) -> None:
        """Start a new interval when the current one is over (lazily, no timer needed)."""
        now = self.clock()
        if now < self._ends:
            return
        # An interval with no ended turn says nothing: neither it nor an idle gap keeps a refusal.
        self._last = self._fastest if now < self._ends + self._interval_s else None
        self._fastest = None
        self._ends = now + self._interval_s
