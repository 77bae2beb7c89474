"""Everything one bot process holds: settings, Redis, stores, the pipeline, senders.

``bot serve``, ``bot chat``, ``bot test`` and the tests all build a
:class:`Runtime`, so they run the very same pipeline against the same Redis.
Several runtimes (replicas) may share one Redis; each has its own replica id
and heartbeat, which is how a crashed replica's messages are recovered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from starlette.routing import BaseRoute

from bot import metrics
from bot.admission import Admission
from bot.brain import Brain, EchoBrain, Handoff, NoHandoff
from bot.channels import Channel
from bot.host import Host
from bot.keys import Keys
from bot.late import LateRetries
from bot.outbound import OutboundRegistry
from bot.pipeline import Pipeline
from bot.records import RecordWriter, open_store
from bot.redis_conn import RedisHandle, connect
from bot.settings import Settings
from bot.steps import Route, default_steps
from bot.stores.context import Context, ContextStore
from bot.stores.dedupe import Deduper
from bot.stores.deferred import Deferred
from bot.stores.ordering import ConversationOrder
from bot.stores.ratelimit import RateLimiter
from bot.stores.sent import SendLedger
from bot.stores.throttle import OutboundThrottle
from bot.stores.wake import Waker
from bot.turn import Turn

log = logging.getLogger(__name__)

# A replica counts as dead once it has missed this many heartbeats. Generous, because a
# replica whose event loop stalls under overload must not have its messages taken over
# (and answered twice); a crash is still detected within seconds.
HEARTBEAT_BEATS = 8
# What a stop may take past the drain budget: channels, services and connections closing.
STOP_GRACE_S = 3.0
Hook = Callable[[], Awaitable[None]]
Check = Callable[[], Awaitable[bool]]


class Runtime:
    """A bot process's state. Build with :meth:`create`, then ``start``/``stop``."""

    def __init__(self, settings: Settings, redis: RedisHandle) -> None:
        self.settings = settings
        self.redis_handle = redis
        self.redis = redis.client
        self.replica_id = uuid.uuid4().hex[:12]
        self.keys = Keys(settings.redis_prefix)
        self.outbound = OutboundRegistry()
        self.channels: list[Channel] = []
        # releases and send marks Redis missed while unreachable; the heartbeat replays them
        self.deferred = Deferred()
        self.contexts = ContextStore(
            self.redis,
            self.keys,
            ttl_s=settings.context_ttl_s,
            history_turns=settings.history_turns,
        )
        self.deduper = Deduper(
            self.redis,
            self.keys,
            replica_id=self.replica_id,
            processing_ttl_s=settings.processing_ttl_s,
            done_ttl_s=settings.dedupe_ttl_s,
            deferred=self.deferred,
        )
        # a conversation's next waiter is woken when it frees, rather than polling for it
        self.waker = Waker(self.redis, self.keys.wake(self.replica_id))
        self.order = ConversationOrder(
            self.redis,
            self.keys,
            lock_ttl_ms=settings.lock_ttl_ms,
            wait_ms=settings.lock_wait_ms,
            replica_id=self.replica_id,
            deferred=self.deferred,
            waker=self.waker,
        )
        self.throttle = OutboundThrottle(RateLimiter(self.redis, self.keys))
        self.records = RecordWriter(max_queue=settings.records_queue_size)
        self.route = Route(
            brain=EchoBrain(),
            handoff=NoHandoff(),
            max_text_chars=settings.max_text_chars,
            history_turns=settings.history_turns,
        )
        self.pipeline = Pipeline(
            default_steps(
                platforms=self.outbound.platforms,
                deduper=self.deduper,
                limiter=RateLimiter(self.redis, self.keys),
                rule_for=settings.rate_limit_for,
                order=self.order,
                contexts=self.contexts,
                done_ttl_s=settings.dedupe_ttl_s,
                route=self.route,
                records=self.records,
                ledger=SendLedger(
                    self.redis, self.keys, ttl_s=settings.dedupe_ttl_s, deferred=self.deferred
                ),
                # a heartbeat lives HEARTBEAT_BEATS beats (see _beat); wait one beat more
                inflight_wait_s=settings.replica_heartbeat_s * (HEARTBEAT_BEATS + 1),
            )
        )
        self._heartbeat: asyncio.Task[None] | None = None
        self._services: list[tuple[str, Hook, Hook]] = []
        # HTTP routes of parts that are not customer channels (the agent console)
        self.routes: list[BaseRoute] = []
        self._checks: dict[str, Check] = {"redis": self.ready}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.admission = Admission(
            target_s=settings.admission_target_ms / 1000,
            targets_s={p: ms / 1000 for p, ms in settings.admission_targets_ms.items()},
            max_in_flight=settings.max_in_flight,
        )
        self.late = LateRetries(
            self.spawn, first_pause_s=settings.late_retry_s, attempts=settings.late_retries
        )
        self._stopped = False
        self._closing = False  # set once the drain is over: the heartbeat may end
        # The NLU service, once a brain that has one is wired in (bot reload swaps its model).
        self.nlu: Any = None
        # ``bot serve --workers``: this process's index, and whether it opens the channels'
        # long-lived connections (a replica's other workers serve HTTP only, see start)
        self.worker = 0
        self.opens_streams = True

    @classmethod
    def create(cls, settings: Settings, *, redis: RedisHandle | None = None) -> Runtime:
        """Connect to Redis (``REDIS_URL`` or the embedded server) and build."""
        handle = redis or connect(
            redis_url=settings.redis_url, data_dir=settings.data_dir, cluster=settings.redis_cluster
        )
        return cls(settings, handle)

    def use(self, *, brain: Brain | None = None, handoff: Handoff | None = None) -> None:
        """Plug in the bot-mode brain and the escalation handoff."""
        if brain is not None:
            self.route.brain = brain
        if handoff is not None:
            self.route.handoff = handoff

    def host(self, platform: str) -> Host:
        """The narrow interface a ``platform`` plug-in is built with."""
        return Host(self, platform)

    def add_service(self, name: str, *, start: Hook, stop: Hook) -> None:
        """Run ``start`` when the runtime starts and ``stop`` when it stops.

        For the parts that live as long as the process: the NLU model server,
        the demo order backend, the escalation timers.
        """
        self._services.append((name, start, stop))

    def add_routes(self, routes: Sequence[BaseRoute]) -> None:
        """Serve ``routes`` too (for parts that are not channels, such as the agent console)."""
        self.routes.extend(routes)

    def add_readiness_check(self, name: str, check: Check) -> None:
        """Make ``/readyz`` also require ``check`` (e.g. the NLU model is loaded)."""
        self._checks[name] = check

    async def readiness(self) -> dict[str, bool]:
        """Every readiness check by name; a check that raises counts as not ready."""
        results = {}
        for name, check in self._checks.items():
            try:
                results[name] = bool(await check())
            except Exception:
                results[name] = False
        return results

    def add_channels(self, channels: Sequence[Channel]) -> None:
        """Register adapters: their senders become reachable by platform name, paced."""
        for channel in channels:
            self.channels.append(channel)
            self.outbound.register(channel.outbound)
            if channel.limits.send_pace is not None:
                self.throttle.set_rule(channel.name, channel.limits.send_pace)

    async def start(self) -> None:
        """Begin heartbeating, then open the channels' connections (if this worker owns them)."""
        await self._beat()
        store = await open_store(
            database_url=self.settings.database_url, data_dir=self.settings.data_dir
        )
        await self.records.start(store)
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="replica-heartbeat")
        await self.waker.start()
        for _, start, _ in self._services:
            await start()
        # A channel's start only opens long-lived connections (Channel.start); the platforms
        # spread messages over a replica's connections, so each worker opening its own would
        # only multiply them (past Slack's 10 per app on a big machine).
        for channel in self.channels if self.opens_streams else []:
            await channel.start()
        log.info(
            "runtime started",
            extra={
                "replica": self.replica_id,
                "worker": self.worker,
                "streams": self.opens_streams,
                "redis": self.redis_handle.description,
                "platforms": self.outbound.platforms(),
            },
        )

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, name: str = "turn", turn: bool = False
    ) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, tracked so shutdown can drain it.

        Adapters that ack a platform first and work afterwards (Slack, DingTalk,
        WeChat past its reply budget) hand their pipeline work to this. A
        ``turn``'s time to its end is what admission judges the queue by.
        """
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if turn:
            started = self.admission.clock()
            task.add_done_callback(lambda _: self.admission.finished(started))
        return task

    def admit(self, platform: str) -> bool:
        """Whether this replica takes another message now (a refusal is counted).

        While a standing queue holds turns past the platform's latency target
        (:mod:`bot.admission`), a new one would wait longer than the platform
        does, and the platform's retry would add to the pile until throughput
        collapses; refusing it (503, or no ack) lets the platform deliver it
        again when there is room, here or on another replica.
        """
        if self.admission.admit(platform, len(self._tasks)):
            return True
        metrics.SHED.labels(platform).inc()
        return False

    async def settle(self, tasks: Sequence[asyncio.Task[Turn]], budget_s: float) -> bool:
        """Wait up to ``budget_s`` for turns; True if one ended asking for a redelivery.

        Adapters of platforms that redeliver what is not acknowledged (Slack,
        DingTalk) acknowledge only after this, so a replica that dies mid-turn
        leaves the message unacknowledged and another replica gets it again.
        Turns still running at the budget keep running; the ack goes out anyway,
        because the platform would otherwise redeliver a message being handled.
        """
        if not tasks:
            return False
        done, _ = await asyncio.wait(tasks, timeout=budget_s)
        # pipeline.handle never raises; a cancelled turn (shutdown) also wants a redelivery
        return any(t.cancelled() or t.result().outcome.retry_helps for t in done)

    async def drain(self, timeout_s: float = 10.0) -> int:
        """Wait up to ``timeout_s`` for background work; returns how many were still running."""
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            _, still = await asyncio.wait(pending, timeout=timeout_s)
            if still:
                log.warning(
                    "shutdown left messages in flight; platforms will retry them",
                    extra={"in_flight": len(still)},
                )
            return len(still)
        return 0

    async def stop(self) -> None:
        """Stop intake, drain in-flight work, stop services, close Redis (once).

        Bounded by ``shutdown_drain_s`` plus :data:`STOP_GRACE_S`, even when Redis
        or a platform API stopped answering: what is still waiting then is
        abandoned (platforms redeliver what was not acknowledged).
        """
        if self._stopped:
            return
        self._stopped = True
        budget_s = self.settings.shutdown_drain_s + STOP_GRACE_S
        try:
            async with asyncio.timeout(budget_s):
                await self._wind_down()
        except TimeoutError:
            log.error("shutdown ran past its budget; closing anyway", extra={"budget_s": budget_s})
        await self._close()

    async def _wind_down(self) -> None:
        for channel in reversed(self.channels):
            try:
                await channel.stop()
            except Exception:
                log.exception("channel did not stop cleanly", extra={"channel": channel.name})
        await self.drain(self.settings.shutdown_drain_s)
        for name, _, stop in reversed(self._services):
            try:
                await stop()
            except Exception:
                log.exception("service did not stop cleanly", extra={"service": name})

    async def _close(self) -> None:
        """The last steps of a stop, each bounded: a dead Redis or database cannot hold them."""
        if self._heartbeat is not None:
            # redis-py can swallow a cancellation that lands inside a command; the loop then
            # sees _closing and ends at its next beat, and the wait is bounded either way.
            self._closing = True
            self._heartbeat.cancel()
            _, still = await asyncio.wait({self._heartbeat}, timeout=STOP_GRACE_S)
            if still:
                log.error("the heartbeat did not stop in time; abandoned")
        await self.waker.stop()
        try:
            await asyncio.wait_for(self.records.stop(), STOP_GRACE_S)
        except TimeoutError:
            log.error("the record store did not close in time; unwritten records are lost")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.redis.delete(self.keys.replica(self.replica_id)), 1.0)
        try:  # redis-py's pool waits for connections still in use (a stream's pubsub, say)
            await asyncio.wait_for(self.redis_handle.close(), STOP_GRACE_S)
        except TimeoutError:
            log.error("the Redis connections did not close in time; abandoned")

    @contextlib.asynccontextmanager
    async def holding(self, conversation: str) -> AsyncIterator[Context]:
        """Hold a conversation outside a turn (an agent's action, a timer) and save its context.

        Takes its place in the conversation's arrival order like any message,
        so staff-side changes never race the pipeline.
        """
        lease = await self.order.acquire(conversation, f"staff-{uuid.uuid4().hex}")
        try:
            ctx = await self.contexts.load(conversation)
            yield ctx
            await self.contexts.save(ctx, lease_token=lease.token)
        finally:
            await self.order.release(lease)

    async def ready(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def _beat(self) -> None:
        ttl_ms = int(self.settings.replica_heartbeat_s * HEARTBEAT_BEATS * 1000)
        await self.redis.set(self.keys.replica(self.replica_id), b"1", px=ttl_ms)

    async def _heartbeat_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(self.settings.replica_heartbeat_s)
            try:
                await self._beat()
                await self.deferred.replay()
            except Exception as exc:  # Redis down: keep trying, readiness reports it
                log.warning("replica heartbeat failed", extra={"error": str(exc)})
