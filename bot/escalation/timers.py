"""Ticket timers that fire exactly once across replicas and survive restarts.

Due timers live in one Redis sorted set (member ``ticket:kind``, score = due
time). Every replica runs an APScheduler 3 ``AsyncIOScheduler`` interval job
that pops what is due with one Lua script (``ZRANGEBYSCORE`` + ``ZREM``), so
each timer is taken by exactly one replica, and a timer scheduled before a
restart is still there afterwards. APScheduler's own job stores must not be
shared between schedulers, which is why the timers themselves are not
APScheduler jobs. Tests call :meth:`Timers.fire_due` with their own clock.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from bot import metrics
from bot.keys import Keys

log = logging.getLogger(__name__)

KINDS = ("unclaimed", "agent_idle", "customer_idle", "window")
Handler = Callable[[str, str], Awaitable[None]]

# KEYS: zset.  ARGV: now, limit.  Returns the members taken.
_POP_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do redis.call('ZREM', KEYS[1], member) end
return due
"""


class Timers:
    """Schedule, cancel and fire ticket timers."""

    def __init__(
        self, redis: aioredis.Redis, keys: Keys, *, handler: Handler | None = None
    ) -> None:
        self._redis = redis
        self._key = keys.ticket_timers()
        self._pop = redis.register_script(_POP_DUE)
        self.handler = handler
        self._scheduler: object | None = None

    async def schedule(self, ticket_id: str, kind: str, at: float) -> None:
        """Fire ``kind`` for the ticket at ``at`` (replacing an earlier schedule of it)."""
        await self._redis.zadd(self._key, {f"{ticket_id}:{kind}": at})

    async def cancel(self, ticket_id: str, *kinds: str) -> None:
        """Drop timers of the ticket (all kinds when none are named)."""
        await self._redis.zrem(self._key, *[f"{ticket_id}:{k}" for k in (kinds or KINDS)])

    async def fire_due(self, now: float | None = None, limit: int = 100) -> int:
        """Take and run every timer due at ``now``; returns how many this replica ran."""
        taken = await self._pop(
            keys=[self._key], args=[now if now is not None else time.time(), limit]
        )
        for member in taken:
            ticket_id, _, kind = member.decode().rpartition(":")
            metrics.TIMER_BREACHES.labels(kind).inc()
            try:
                if self.handler is not None:
                    await self.handler(ticket_id, kind)
            except Exception:
                log.exception("ticket timer failed", extra={"ticket": ticket_id, "timer": kind})
        return len(taken)

    async def start(self) -> None:
        """Poll every second with APScheduler."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        scheduler = AsyncIOScheduler()
        scheduler.add_job(
            self.fire_due, "interval", seconds=1, id="ticket-timers", coalesce=True, max_instances=1
        )
        scheduler.start()
        self._scheduler = scheduler

    async def stop(self) -> None:
        """Stop polling (timers stay in Redis for the next start)."""
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # type: ignore[attr-defined]


class BusinessHours:
    """``09:00-21:00`` in a time zone: is it open now, and when does it next open."""

    def __init__(self, spec: str, timezone: str) -> None:
        start, _, end = spec.partition("-")
        self.open_at = dt.time.fromisoformat(start.strip())
        self.close_at = dt.time.fromisoformat(end.strip())
        self.zone = ZoneInfo(timezone)

    def is_open(self, at: float) -> bool:
        """Whether agents are working at ``at``."""
        local = dt.datetime.fromtimestamp(at, self.zone).time()
        return self.open_at <= local < self.close_at

    def next_open(self, at: float) -> float:
        """The next opening time after ``at`` (``at`` itself when open)."""
        if self.is_open(at):
            return at
        local = dt.datetime.fromtimestamp(at, self.zone)
        opening = local.replace(
            hour=self.open_at.hour, minute=self.open_at.minute, second=0, microsecond=0
        )
        if opening <= local:
            opening += dt.timedelta(days=1)
        return opening.timestamp()

    def clock(self, at: float) -> str:
        """``at`` as the hour and minute in the business time zone (``09:00``).

        Enough to name the next opening, which is always within a day.
        """
        return dt.datetime.fromtimestamp(at, self.zone).strftime("%H:%M")
