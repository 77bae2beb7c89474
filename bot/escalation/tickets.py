"""Tickets in Redis: one JSON value per ticket, with its event history.

Status goes ``pending`` -> ``claimed`` -> ``resolved`` (or ``expired``). The
claim is one Lua script on the ticket's key, so two agents clicking at once
on two replicas get exactly one winner; the loser learns who won. Open
tickets have no TTL; closed ones expire after ``CLOSED_TTL_S``.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import redis.asyncio as aioredis

from bot import metrics
from bot.keys import Keys

SCHEMA_VERSION = 1
STATUSES = ("pending", "claimed", "resolved", "expired")
CLOSED_TTL_S = 30 * 86400

# KEYS: ticket.  ARGV: agent, agent name, now.  Returns {1, ""} won, {0, holder} lost, {-1, status}.
# KEYS: ticket.  ARGV: status, by, now, ttl.  1 if closed now; 0 if it was already closed.
# A compare-and-set like the claim, so a resolve never overwrites a claim made at the same instant.
_CLOSE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local t = cjson.decode(raw)
if t['status'] ~= 'pending' and t['status'] ~= 'claimed' then return 0 end
t['status'] = ARGV[1]
t['resolved_at'] = tonumber(ARGV[3])
table.insert(t['events'], {ts = tonumber(ARGV[3]), event = ARGV[1], by = ARGV[2]})
redis.call('SET', KEYS[1], cjson.encode(t), 'EX', ARGV[4])
return 1
"""

_CLAIM = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {-1, 'unknown'} end
local t = cjson.decode(raw)
if t['status'] ~= 'pending' then
  if t['status'] == 'claimed' then return {0, t['agent_name'] or t['agent']} end
  return {-1, t['status']}
end
t['status'] = 'claimed'
t['agent'] = ARGV[1]
t['agent_name'] = ARGV[2]
t['claimed_at'] = tonumber(ARGV[3])
table.insert(t['events'], {ts = tonumber(ARGV[3]), event = 'claimed', by = ARGV[1]})
redis.call('SET', KEYS[1], cjson.encode(t))
return {1, ''}
"""

# KEYS: ticket.  ARGV: event JSON.  Appends to the history in place (concurrent agent actions
# on one ticket must not overwrite each other's events); returns 0 if the ticket is gone.
_APPEND = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local t = cjson.decode(raw)
table.insert(t['events'], cjson.decode(ARGV[1]))
redis.call('SET', KEYS[1], cjson.encode(t), 'KEEPTTL')
return 1
"""
_LISTS = ("transcript", "events")  # Lua's cjson writes an empty list back as {}


@dataclass
class Ticket:
    """A conversation handed to people."""

    id: str
    conversation: str
    address: dict[str, Any]
    reason: str
    summary: dict[str, Any]
    transcript: list[str]
    status: str = "pending"
    agent: str = ""
    agent_name: str = ""
    staff_thread: str = ""
    created_at: float = field(default_factory=time.time)
    claimed_at: float | None = None
    resolved_at: float | None = None
    satisfaction: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION


class TicketStore:
    """Create, read, claim and close tickets."""

    def __init__(self, redis: aioredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = redis.register_script(_CLAIM)
        self._close = redis.register_script(_CLOSE)
        self._append = redis.register_script(_APPEND)

    def key(self, ticket_id: str) -> str:
        """The ticket's own key."""
        return self._keys.ticket(ticket_id)

    def thread_key(self, thread: str) -> str:
        """Staff thread -> ticket id."""
        return self._keys.ticket_thread(thread)

    async def create(
        self,
        *,
        conversation: str,
        address: dict[str, Any],
        reason: str,
        summary: dict[str, Any],
        transcript: list[str],
    ) -> Ticket:
        """A new pending ticket."""
        ticket = Ticket(
            id=uuid.uuid4().hex[:8].upper(),
            conversation=conversation,
            address=address,
            reason=reason,
            summary=summary,
            transcript=transcript,
        )
        ticket.events.append({"ts": ticket.created_at, "event": "opened", "reason": reason})
        await self.save(ticket)
        await self._redis.sadd(self._keys.tickets(), ticket.id)
        await self._count()
        return ticket

    async def get(self, ticket_id: str) -> Ticket | None:
        """The ticket, or None."""
        return _decode(await self._redis.get(self.key(ticket_id.upper())))

    async def add_event(self, ticket: Ticket, event: dict[str, Any]) -> None:
        """Append ``event`` to the stored history atomically (and to ``ticket``)."""
        ticket.events.append(event)
        await self._append(keys=[self.key(ticket.id)], args=[json.dumps(event, ensure_ascii=False)])

    async def save(self, ticket: Ticket) -> None:
        """Write the ticket (closed ones get a TTL)."""
        ttl = CLOSED_TTL_S if ticket.status in ("resolved", "expired") else None
        await self._redis.set(
            self.key(ticket.id), json.dumps(asdict(ticket), ensure_ascii=False), ex=ttl
        )
        if ticket.staff_thread:
            await self._redis.set(self.thread_key(ticket.staff_thread), ticket.id, ex=CLOSED_TTL_S)

    async def by_thread(self, thread: str) -> Ticket | None:
        """The ticket whose staff thread is ``thread``."""
        ticket_id = cast(bytes | None, await self._redis.get(self.thread_key(thread)))
        return await self.get(ticket_id.decode()) if ticket_id else None

    async def claim(self, ticket_id: str, *, agent: str, agent_name: str) -> tuple[bool, str]:
        """(True, "") if ``agent`` now owns it; else (False, who has it or why not)."""
        won, detail = await self._claim(
            keys=[self.key(ticket_id.upper())], args=[agent, agent_name, time.time()]
        )
        await self._count()
        return int(won) == 1, detail.decode() if isinstance(detail, bytes) else str(detail)

    async def close(self, ticket: Ticket, *, status: str, by: str) -> bool:
        """Resolve or expire atomically; False (and nothing changed) if it was already closed.

        ``ticket`` is refreshed from Redis, so it carries a claim made meanwhile.
        """
        closed = await self._close(
            keys=[self.key(ticket.id)], args=[status, by, time.time(), CLOSED_TTL_S]
        )
        fresh = await self.get(ticket.id)
        if fresh is not None:
            ticket.__dict__.update(fresh.__dict__)
        await self._count()
        return bool(closed)

    async def all(self, status: str | None = None) -> list[Ticket]:
        """Every known ticket (optionally of one status), newest first.

        One pipelined round trip for all tickets; ids whose ticket has expired
        are dropped from the index so it does not grow forever.
        """
        index = self._keys.tickets()
        ids = sorted(i.decode() for i in cast(set[bytes], await self._redis.smembers(index)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for ticket_id in ids:
                pipe.get(self.key(ticket_id))
            raws = await pipe.execute()
        gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if gone:
            await self._redis.srem(index, *gone)
        tickets = [t for t in map(_decode, raws) if t is not None]
        return sorted(
            (t for t in tickets if status in (None, t.status)), key=lambda t: -t.created_at
        )

    async def _count(self) -> None:
        counts = {s: 0 for s in STATUSES}
        for ticket in await self.all():
            counts[ticket.status] = counts.get(ticket.status, 0) + 1
        for status, n in counts.items():
            metrics.TICKETS.labels(status).set(n)


def _decode(raw: bytes | str | None) -> Ticket | None:
    """A stored ticket; Lua's cjson writes an empty list as {}, so lists are restored."""
    if not raw:
        return None
    data = json.loads(raw)
    for name in _LISTS:
        if data.get(name) == {}:
            data[name] = []
    return Ticket(**data)
