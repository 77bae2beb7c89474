"""Conversation tests: YAML scripts run through the whole pipeline, with real Redis.

Format (fixed, so anyone can test their own bot)::

    conversations:
      - name: order status, number given later
        user: alice            # optional; default: a fresh random user
        platform: console      # optional; any platform of the registry (wechat, slack...)
        steps:
          - user: 我的订单到哪了
            expect:
              intent: order_status
              reply_matches: "订单号"
          - user: 20231122001
            expect:
              slots: {order_id: "20231122001"}

Expect keys: ``intent``, ``confidence_min``, ``reply_matches``,
``reply_not_matches`` (regexes searched in the joined reply text), ``slots``
(subset of the context's slots), ``escalated`` (a ticket was asked for in
this step) and ``mode`` (``bot`` or ``human``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError
from bot.models import Address, InboundMessage, MessageKind, Reply
from bot.runtime import Runtime
from bot.turn import Turn

EXPECT_KEYS = {
    "intent",
    "confidence_min",
    "reply_matches",
    "reply_not_matches",
    "slots",
    "escalated",
    "mode",
}


@dataclass
class Failure:
    """One step that did not do what its script expected."""

    conversation: str
    step: int
    said: str
    problems: list[str]


@dataclass
class Outcome:
    """Totals and failures of a run."""

    passed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)


class CaptureSink:
    """Collects the replies of one turn (the platform is not involved in conversation tests)."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Keep the replies."""
        self.replies.extend(replies)


class ScriptPlatform:
    """Stands in for a platform during conversation tests; keeps proactive sends."""

    def __init__(self, platform: str) -> None:
        from bot.outbound import Capabilities

        self.platform = platform
        self.capabilities = Capabilities(buttons=True, proactive_send=True)
        self.sent: list[Reply] = []

    async def deliver(self, address: Address, replies: Sequence[Reply]) -> None:
        """Keep the replies."""
        self.sent.extend(replies)


def prepare(runtime: Runtime, platforms: Sequence[str]) -> None:
    """Make each of ``platforms`` (the registry's names) reachable in ``runtime``."""
    for platform in platforms:
        if platform not in runtime.outbound.platforms():
            runtime.outbound.register(ScriptPlatform(platform))


def load_scripts(paths: Sequence[Path], platforms: Sequence[str]) -> list[dict[str, Any]]:
    """Every conversation in the given files or directories, validated against ``platforms``."""
    conversations: list[dict[str, Any]] = []
    for path in paths:
        files = (
            sorted(path.glob("*.yml")) + sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        )
        for file in files:
            try:
                doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"{file}: {exc}") from None
            for conv in doc.get("conversations", []):
                _check(conv, file, platforms)
                conversations.append({**conv, "_file": str(file)})
    return conversations


def _check(conv: Any, file: Path, platforms: Sequence[str]) -> None:
    if not isinstance(conv, dict) or "name" not in conv or not isinstance(conv.get("steps"), list):
        raise ConfigError(f"{file}: each conversation needs a name and a list of steps")
    if conv.get("platform", "console") not in platforms:
        raise ConfigError(f"{file}: {conv['name']}: platform must be one of {', '.join(platforms)}")
    for step in conv["steps"]:
        unknown = set((step or {}).get("expect", {}) or {}) - EXPECT_KEYS
        if "user" not in (step or {}) or unknown:
            raise ConfigError(
                f"{file}: {conv['name']}: bad step {step!r} (unknown keys: {unknown or '-'})"
            )


async def run(runtime: Runtime, conversations: Sequence[dict[str, Any]]) -> Outcome:
    """Run every conversation against ``runtime`` (started, with the bot's brain)."""
    outcome = Outcome()
    for conv in conversations:
        failures = await _run_one(runtime, conv)
        if failures:
            outcome.failed += 1
            outcome.failures.extend(failures)
        else:
            outcome.passed += 1
    return outcome


async def _run_one(runtime: Runtime, conv: dict[str, Any]) -> list[Failure]:
    platform = conv.get("platform", "console")
    user = str(conv.get("user") or f"test-{uuid.uuid4().hex[:10]}")
    address = Address(platform=platform, conversation_id=user, user_id=user, account="test")
    await runtime.contexts.delete(address.key)
    failures = []
    for number, step in enumerate(conv["steps"], 1):
        said = str(step["user"])
        sink = CaptureSink()
        payload = said if said.startswith("/") else None
        msg = InboundMessage(
            platform=platform,
            message_id=uuid.uuid4().hex,
            address=address,
            text=said,
            kind=MessageKind.ACTION if payload else MessageKind.TEXT,
            payload=payload,
            user_name=user,
        )
        turn = await runtime.pipeline.handle(msg, sink)
        problems = await _compare(runtime, turn, sink.replies, step.get("expect") or {})
        if problems:
            failures.append(Failure(conv["name"], number, said, problems))
    return failures


async def _compare(
    runtime: Runtime, turn: Turn, replies: list[Reply], expect: dict[str, Any]
) -> list[str]:
    text = "\n".join(r.text for r in replies)
    ctx = await runtime.contexts.load(turn.conversation)
    parse = turn.parse
    intent = parse.intent.name if parse is not None else None
    problems = []
    if turn.outcome.value not in ("replied",):
        problems.append(f"turn ended {turn.outcome.value} ({turn.detail})")
    if "intent" in expect and intent != expect["intent"]:
        problems.append(f"intent: expected {expect['intent']}, got {intent}")
    if "confidence_min" in expect and (
        parse is None or parse.intent.confidence < expect["confidence_min"]
    ):
        got = parse.intent.confidence if parse is not None else None
        problems.append(f"confidence: expected >= {expect['confidence_min']}, got {got}")
    if "reply_matches" in expect and not re.search(expect["reply_matches"], text):
        problems.append(f"reply should match /{expect['reply_matches']}/, got: {text!r}")
    if "reply_not_matches" in expect and re.search(expect["reply_not_matches"], text):
        problems.append(f"reply should not match /{expect['reply_not_matches']}/, got: {text!r}")
    for slot, value in (expect.get("slots") or {}).items():
        if str(ctx.slots.get(slot, ctx.state.get("memory", {}).get(slot))) != str(value):
            problems.append(f"slot {slot}: expected {value!r}, got {ctx.slots.get(slot)!r}")
    if "escalated" in expect and bool(turn.escalation) != bool(expect["escalated"]):
        problems.append(f"escalated: expected {expect['escalated']}, got {turn.escalation!r}")
    if "mode" in expect and ctx.mode != expect["mode"]:
        problems.append(f"mode: expected {expect['mode']}, got {ctx.mode}")
    return problems


def report(outcome: Outcome) -> str:
    """Human-readable failures, then the closing ``N passed, M failed`` line."""
    lines = []
    for f in outcome.failures:
        lines.append(f"FAILED {f.conversation} (step {f.step}: {f.said!r})")
        lines.extend(f"    {p}" for p in f.problems)
    lines.append(f"{outcome.passed} passed, {outcome.failed} failed")
    return "\n".join(lines)
