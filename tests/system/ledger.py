"""The reply ledger: what was sent and seen per conversation, and the check of it.

The fakes report every reply they receive to a :class:`Ledger`; :func:`check`
then counts, per conversation, replies seen once, twice or never, and whether
they came in the order the messages were sent, against what calibration says
each text gets back.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

Conv = tuple[str, str]  # (platform, user key)
Expected = dict[tuple[str, str], list[str]]  # (platform, text) -> the reply texts it gets


@dataclass
class Message:
    """One logical message (however many times it is delivered)."""

    text: str
    sent_at: float


@dataclass
class Ledger:
    """Messages sent and replies seen, per conversation."""

    sent: dict[Conv, list[Message]] = field(default_factory=lambda: defaultdict(list))
    replies: dict[Conv, list[tuple[float, str]]] = field(default_factory=lambda: defaultdict(list))

    def message(self, conv: Conv, text: str) -> None:
        """Record a message as sent now (before its first delivery)."""
        self.sent[conv].append(Message(text, time.perf_counter()))

    def reply(self, conv: Conv, text: str) -> None:
        """Record a reply as seen now; called from the fakes (any thread)."""
        self.replies[conv].append((time.perf_counter(), text))

    def last_reply_at(self) -> float:
        """When the newest reply was seen."""
        return max((r[-1][0] for r in self.replies.values() if r), default=0.0)


@dataclass
class Report:
    """What a load run delivered, counted against what it should have."""

    messages: int = 0
    expected_replies: int = 0
    seen_replies: int = 0
    duplicates: int = 0  # replies seen more often than expected
    missing: int = 0  # expected replies never seen
    conversations: int = 0
    in_order: int = 0  # conversations whose replies came exactly in sending order
    latencies_s: list[float] = field(default_factory=list)  # first reply per message
    problems: list[str] = field(default_factory=list)  # what went wrong, per conversation

    def percentile(self, q: float) -> float:
        """A latency percentile in milliseconds."""
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> str:
        """One line for logs and test output."""
        return (
            f"{self.messages} messages, {self.seen_replies}/{self.expected_replies} replies, "
            f"{self.duplicates} duplicated, {self.missing} missing, "
            f"{self.in_order}/{self.conversations} conversations in order, "
            f"p50 {self.p50_ms:.0f} ms, p99 {self.percentile(0.99):.0f} ms"
        )

    @property
    def p50_ms(self) -> float:
        """Median latency."""
        return 1000 * statistics.median(self.latencies_s) if self.latencies_s else float("nan")


def check(ledger: Ledger, expected: Expected) -> Report:
    """Count duplicates, losses and order per conversation (see :class:`Report`)."""
    report = Report()
    for conv, messages in ledger.sent.items():
        want = [(m, expected[(conv[0], m.text)]) for m in messages]
        want_texts = [t for _, texts in want for t in texts]
        got = ledger.replies.get(conv, [])
        got_texts = [t for _, t in got]
        report.messages += len(messages)
        report.conversations += 1
        report.expected_replies += len(want_texts)
        report.seen_replies += len(got_texts)
        report.duplicates += sum((Counter(got_texts) - Counter(want_texts)).values())
        report.missing += sum((Counter(want_texts) - Counter(got_texts)).values())
        if got_texts != want_texts:
            problem = _describe(conv, ledger, want_texts)
            if Counter(got_texts) != Counter(want_texts):  # lost or repeated: list these first
                report.problems.insert(0, problem)
            else:
                report.problems.append(problem)
            continue
        report.in_order += 1
        position = 0
        for message, texts in want:
            report.latencies_s.append(got[position][0] - message.sent_at)
            position += len(texts)
    return report


def _describe(conv: Conv, ledger: Ledger, want: list[str]) -> str:
    sent = [(round(m.sent_at, 3), m.text) for m in ledger.sent[conv]]
    got = [(round(t, 3), text[:24]) for t, text in ledger.replies.get(conv, [])]
    return f"{conv}: sent {sent}; expected {[w[:24] for w in want]}; got {got}"


async def settle(
    ledger: Ledger, expected: dict[tuple[str, str], list[str]], timeout_s: float
) -> None:
    """Wait until every conversation has at least its expected replies (or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(
            len(ledger.replies.get(conv, []))
            >= sum(len(expected[(conv[0], m.text)]) for m in messages)
            for conv, messages in ledger.sent.items()
        ):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # late duplicates would land now
