"""Conversation context: versioned JSON in Redis with a TTL.

Older schema versions load with defaults for the fields they lack; a corrupt
value is logged and replaced by a fresh context rather than failing the turn.
Writes are fenced: a save succeeds only while the writer still holds the
conversation lock, so a holder whose lock expired cannot overwrite newer state.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from bot.errors import FencedOut
from bot.keys import Keys
from bot.stores.wake import WAKE_HEAD

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2

Mode = Literal["bot", "human"]


@dataclass
class Context:
    """Everything the bot remembers about one conversation.

    ``mode`` is changed only by the escalation code. ``flow``, ``step``,
    ``slots`` and ``flow_stack`` belong to the dialog engine; ``state`` is a
    free-form dict for dialog bookkeeping (re-ask counters, pending questions).
    """

    conversation: str
    schema_version: int = SCHEMA_VERSION
    mode: Mode = "bot"
    ticket_id: str | None = None
    lang: str = "zh-CN"
    flow: str | None = None
    step: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    flow_stack: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    fallback_count: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    address: dict[str, Any] | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def add_turn(self, role: str, text: str, limit: int, **extra: Any) -> None:
        """Append a line of history, keeping the last ``limit`` entries."""
        self.history.append({"role": role, "text": text, "ts": time.time(), **extra})
        if len(self.history) > limit:
            del self.history[: len(self.history) - limit]

    def reset_flow(self) -> None:
        """Forget the dialog state; keep the history and the mode."""
        self.flow = None
        self.step = None
        self.slots = {}
        self.flow_stack = []
        self.fallback_count = 0
        self.state = {}


_FIELDS = tuple(f.name for f in fields(Context))


def _migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older value up to :data:`SCHEMA_VERSION`."""
    version = int(data.get("schema_version", 1))
    if version < 2:
        # v1 kept the dialog stack under "stack" and had no mode or ticket.
        data.setdefault("flow_stack", data.pop("stack", []) or [])
    data["schema_version"] = SCHEMA_VERSION
    return {k: v for k, v in data.items() if k in _FIELDS}


def decode_context(conversation: str, raw: bytes | str | None) -> Context:
    """Parse a stored value; anything unreadable becomes a fresh context."""
    if raw is None:
        return Context(conversation=conversation)
    try:
        data = orjson.loads(raw)  # read and written once per turn: orjson, see bench/hot_path.py
        if not isinstance(data, dict):
            raise ValueError("context is not an object")
        if int(data.get("schema_version", 1)) > SCHEMA_VERSION:
            raise ValueError(f"context schema {data['schema_version']} is newer than ours")
        data["conversation"] = conversation
        return Context(**_migrate(data))
    except (ValueError, TypeError) as exc:
        log.warning(
            "corrupt context replaced", extra={"conversation": conversation, "error": str(exc)}
        )
        return Context(conversation=conversation)


def encode_context(ctx: Context) -> bytes:
    """The stored JSON of ``ctx`` (UTF-8, compact, as ``json.dumps(ensure_ascii=False)``).

    Not ``dataclasses.asdict``: that deep-copies the whole history on every
    save, which was the single largest cost per message in the pipeline bench.
    Non-string slot keys become strings, as the stdlib does.
    """
    return orjson.dumps(
        {name: getattr(ctx, name) for name in _FIELDS}, option=orjson.OPT_NON_STR_KEYS
    )


# KEYS: lock, context.  ARGV: lease token, value, ttl seconds.
_FENCED_SET = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""

# The end of a turn, atomically: save the context, mark the message done and
# release the lock -- only while we still hold the lock (fencing) -- and wake the
# conversation's next waiter (bot/stores/wake.py).
# KEYS: lock, context, dedupe, queue.  ARGV: lease token, value, ttl s, done ttl s, wake prefix.
_COMMIT = (
    WAKE_HEAD
    + """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('SET', KEYS[3], 'd', 'EX', ARGV[4])
redis.call('DEL', KEYS[1])
wake_head(KEYS[4], ARGV[5])
return 1
"""
)


class ContextStore:
    """Load and save :class:`Context` values."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, *, ttl_s: int, history_turns: int):
        self._redis = redis
        self._keys = keys
        self.ttl_s = ttl_s
        self.history_turns = history_turns
        self._fenced_set = redis.register_script(_FENCED_SET)
        self._commit = redis.register_script(_COMMIT)
        self._wake_prefix = keys.wake()  # built once, not on every turn's commit

    async def load(self, conversation: str) -> Context:
        """The current context, or a fresh one (new, expired or corrupt)."""
        return decode_context(conversation, await self._redis.get(self._keys.context(conversation)))

    async def save(self, ctx: Context, *, lease_token: str | None = None) -> None:
        """Write ``ctx``; with a lease token, only while that lease still holds."""
        ctx.updated_at = time.time()
        value = encode_context(ctx)
        key = self._keys.context(ctx.conversation)
        if lease_token is None:
            await self._redis.set(key, value, ex=self.ttl_s)
            return
        ok = await self._fenced_set(
            keys=[self._keys.lock(ctx.conversation), key], args=[lease_token, value, self.ttl_s]
        )
        if not ok:
            raise FencedOut(ctx.conversation)

    async def commit(
        self, ctx: Context, *, lease_token: str, message_id: str, done_ttl_s: int
    ) -> None:
        """End a turn: save ``ctx``, mark ``message_id`` done, release the lock, atomically.

        Raises :class:`FencedOut` (and changes nothing) if the lock expired under us.
        """
        ctx.updated_at = time.time()
        conv = ctx.conversation
        keys = [
            self._keys.lock(conv),
            self._keys.context(conv),
            self._keys.dedupe(conv, message_id),
            self._keys.queue(conv),
        ]
        value, wake = encode_context(ctx), self._wake_prefix
        args: list[str | bytes | int] = [lease_token, value, self.ttl_s, done_ttl_s, wake]
        ok = await self._commit(keys=keys, args=args)
        if not ok:
            raise FencedOut(conv)

    async def delete(self, conversation: str) -> None:
        """Forget a conversation entirely (e.g. a WeChat unsubscribe)."""
        await self._redis.delete(self._keys.context(conversation))
