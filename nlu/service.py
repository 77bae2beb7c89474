"""Serving the NLU: one model per process, off the event loop, micro-batched and cached.

Entry point for the dialog engine::

    nlu = load_nlu(settings)
    await nlu.start()
    result = await nlu.parse("我的订单20231122001到哪了")   # -> nlu.types.ParseResult

Concurrent ``parse`` calls are gathered into one batch for the model (run in
a worker thread); repeated texts are answered from an LRU cache. ``reload``
swaps in a newly trained model atomically: each batch uses exactly one model,
and the cache belongs to the model it was filled by.

A service may start without a model and a ``warm_up`` that trains one (a fresh
install's first ``bot serve``): the process answers ``/healthz`` at once, and
``parse`` waits for the model up to ``warm_wait_s``, then raises
:class:`Warming` so that the bot can say so instead of going silent. An
``improve`` step then trains a better model meanwhile and swaps it in.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot import metrics
from bot.errors import BotError
from nlu.entities import extract
from nlu.model import IntentModel
from nlu.normalize import for_classifier, normalize
from nlu.openers import clauses
from nlu.safety import SensitiveFilter
from nlu.types import OUT_OF_SCOPE, SOCIAL, IntentScore, ParseResult

if TYPE_CHECKING:
    from bot.stores.context import Context

log = logging.getLogger(__name__)


REQUEST_CONFIDENCE = 0.5  # a clause must be this sure to count as a request of its own
NOT_REQUESTS = SOCIAL | {"cancel", OUT_OF_SCOPE}


class Warming(BotError):
    """The model is still being trained or loaded."""


@dataclass
class _Slot:
    """A model with the cache it filled."""

    model: IntentModel
    cache: OrderedDict[str, np.ndarray]
    # texts queued and not yet predicted, so that a burst of one text costs one prediction
    pending: dict[str, asyncio.Future[np.ndarray]] = field(default_factory=dict)


class NLUService:
    """Implements :class:`nlu.types.NLU`."""

    def __init__(
        self,
        model: IntentModel | None,
        *,
        sensitive: SensitiveFilter | None = None,
        max_batch: int = 64,
        cache_size: int = 4096,
        top_k: int = 5,
        warm_up: Callable[[], Path] | None = None,
        warm_wait_s: float = 3.0,
        improve: Callable[[], Awaitable[Path]] | None = None,
    ) -> None:
        if model is None and warm_up is None:
            raise ValueError("an NLUService needs a model or a warm_up that makes one")
        self._slot = _Slot(model, OrderedDict()) if model is not None else None
        self._warm_up = warm_up
        self._improve = improve
        self._warm_wait_s = warm_wait_s
        self._loaded = asyncio.Event()
        self._warming: asyncio.Task[None] | None = None
        self._sensitive = sensitive or SensitiveFilter([])
        self._max_batch = max_batch
        self._cache_size = cache_size
        self._top_k = top_k
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[np.ndarray]]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.model_dir: Path | None = None

    @property
    def model(self) -> IntentModel:
        """The model answering right now (:class:`Warming` before there is one)."""
        if self._slot is None:
            raise Warming("the intent model is still being trained")
        return self._slot.model

    async def start(self) -> None:
        """Start the batching worker, and the warm-up training when there is no model yet."""
        if self._worker is None:
            self._worker = asyncio.create_task(self._batches(), name="nlu-batcher")
        if self._slot is not None:
            self._loaded.set()
        elif self._warming is None and self._warm_up is not None:
            self._warming = asyncio.create_task(self._warm(self._warm_up), name="nlu-warm-up")

    async def stop(self) -> None:
        """Stop the worker (a warm-up training thread finishes on its own)."""
        for task in (self._worker, self._warming):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._worker = self._warming = None

    async def ready(self) -> bool:
        """A model is loaded and the worker runs."""
        return self._slot is not None and self._worker is not None and not self._worker.done()

    async def wait_ready(self) -> None:
        """Until a model is loaded (at once when it is); :class:`Warming` if training failed."""
        await self._loaded.wait()
        if self._slot is None:
            raise Warming("training the intent model failed; run `bot train` to see why")

    async def _warm(self, warm_up: Callable[[], Path]) -> None:
        log.info("no trained model yet: training one; the bot answers once it is ready")
        try:
            directory = await asyncio.to_thread(warm_up)
            await self.reload(directory)
        except Exception:
            log.exception("training the intent model failed; run `bot train` to see why")
            self._loaded.set()  # wake the waiters: they find no model and say so
            return
        if self._improve is not None:
            await self._improved(self._improve)

    async def _improved(self, improve: Callable[[], Awaitable[Path]]) -> None:
        """After the warm-up: a better model trained meanwhile, swapped in once ready."""
        log.info("answering with the quick model; fine-tuning a better one in the background")
        try:
            directory = await improve()
            await self.reload(directory)
        except Exception:  # a worse model keeps answering: no outage, and said so
            log.exception("fine-tuning in the background failed; the quick model stays")
            return
        log.info("the fine-tuned model answers from now on", extra={"model": str(directory)})

    async def parse(self, text: str, context: Context | None = None) -> ParseResult:
        """Normalise, check the sensitive list, extract entities, classify."""
        started = time.perf_counter()
        entities = tuple(extract(text, today=dt.date.today()))
        lang = context.lang if context is not None else "zh-CN"
        if self._sensitive.matches(text):
            return ParseResult(
                text=text,
                normalized=normalize(text),
                intent=IntentScore(OUT_OF_SCOPE, 1.0),
                entities=entities,
                lang=lang,
                blocked=True,
            )
        if self._slot is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._loaded.wait(), self._warm_wait_s)
        slot = self._slot
        if slot is None:
            raise Warming("the intent model is still being trained")
        probs = await self._probabilities(for_classifier(text), slot)
        result = self._result(text, probs, slot.model, entities, lang)
        requests = await self._requests(text, slot)
        if len(requests) > 1:
            result.extra["requests"] = requests
        metrics.NLU_LATENCY.observe(time.perf_counter() - started)
        metrics.NLU_CONFIDENCE.observe(result.intent.confidence)
        return result

    async def reload(self, directory: Path) -> None:
        """Load ``directory`` in a worker thread, then swap it in atomically."""
        model = await asyncio.to_thread(IntentModel.load, directory)
        self._slot = _Slot(model, OrderedDict())
        self.model_dir = directory
        self._loaded.set()
        log.info("nlu model reloaded", extra={"model_dir": str(directory)})

    # -- internals ------------------------------------------------------------

    async def _probabilities(self, clean: str, slot: _Slot) -> np.ndarray:
        cached = slot.cache.get(clean)
        if cached is not None:
            slot.cache.move_to_end(clean)
            return cached
        if self._worker is None:  # not started (tests, scripts): predict inline in a thread
            return (await asyncio.to_thread(slot.model.predict_proba, [clean]))[0]
        pending = slot.pending.get(clean)
        if pending is not None:  # the same text is already queued: one prediction for both
            return await asyncio.shield(pending)
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        slot.pending[clean] = future
        future.add_done_callback(lambda _: slot.pending.pop(clean, None))
        await self._queue.put((clean, future))
        return await asyncio.shield(future)

    async def _batches(self) -> None:
        while True:
            items = [await self._queue.get()]
            await asyncio.sleep(0)  # let concurrent callers join this batch
            while len(items) < self._max_batch and not self._queue.empty():
                items.append(self._queue.get_nowait())
            slot = self._slot  # one model for the whole batch
            assert slot is not None  # parse queues texts only once there is a model
            texts = [t for t, _ in items]
            try:
                probs = await asyncio.to_thread(slot.model.predict_proba, texts)
            except Exception as exc:
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (clean, future), row in zip(items, probs, strict=True):
                slot.cache[clean] = row
                if not future.done():
                    future.set_result(row)
            while len(slot.cache) > self._cache_size:
                slot.cache.popitem(last=False)

    async def _requests(self, text: str, slot: _Slot) -> list[str]:
        """The distinct requests of a message's clauses, in the order written.

        Only messages of two or more clauses pay for this: each clause is one more
        (cached, batched) prediction. Social turns and out-of-scope clauses are
        not requests; a clause must be at least ``REQUEST_CONFIDENCE`` sure.
        """
        parts = clauses(text)
        if len(parts) < 2:
            return []
        rows = await asyncio.gather(*(self._probabilities(for_classifier(p), slot) for p in parts))
        found: list[str] = []
        for row in rows:
            best = int(row.argmax())
            name = slot.model.labels[best]
            if row[best] >= REQUEST_CONFIDENCE and name not in NOT_REQUESTS and name not in found:
                found.append(name)
        return found

    def _result(
        self, text: str, probs: np.ndarray, model: IntentModel, entities: tuple, lang: str
    ) -> ParseResult:
        order = np.argsort(-probs)[: self._top_k]
        ranking = tuple(IntentScore(model.labels[i], float(probs[i])) for i in order)
        top = ranking[0]
        intent = (
            top if top.confidence >= model.threshold else IntentScore(OUT_OF_SCOPE, top.confidence)
        )
        return ParseResult(
            text=text,
            normalized=normalize(text),
            intent=intent,
            ranking=ranking,
            entities=entities,
            lang=lang,
        )
