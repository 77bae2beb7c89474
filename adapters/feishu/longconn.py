"""Feishu's long connection through the official SDK's ``lark_oapi.ws.Client``.

The SDK's client is blocking (``start()`` runs its own event loop forever, and
asks for the endpoint with ``requests``), and it binds that loop once, at import,
to a module-level ``loop``. So it runs on a thread of its own, with a fresh loop
set as that module's ``loop`` before ``start()``: one connection per process,
which is what a replica needs. Its EventDispatcherHandler hands each event's
JSON to ``on_event`` on the bot's loop; the SDK acks the frame when the handler
returns, so the handler waits only until the turn is submitted (a refusal raises,
the SDK answers 500 and Feishu delivers the event again). Card callbacks come
over the same connection as ``card.action.trigger``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from adapters.feishu import inbound

log = logging.getLogger(__name__)
# Handles one event on the bot's loop; True when Feishu should deliver it again.
OnEvent = Callable[[dict[str, Any]], Coroutine[Any, Any, bool]]
SUBMIT_BUDGET_S = 2.0  # Feishu wants the ack within 3 s


class Redeliver(Exception):
    """Raised in the SDK's handler so that it answers 500 and Feishu redelivers."""


class LongConnection:
    """One ``lark_oapi.ws.Client`` on its own thread, started and stopped with the channel."""

    def __init__(self, *, app_id: str, app_secret: str, domain: str, on_event: OnEvent) -> None:
        self._app_id = app_id
        self._secret = app_secret
        self._domain = domain
        self._on_event = on_event
        self._bot_loop: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Any = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    async def start(self) -> None:
        """Start the SDK's client on its thread (it connects, and reconnects, by itself)."""
        self._bot_loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait, 30)

    async def stop(self) -> None:
        """Stop reconnecting, close the socket, stop the thread's loop."""
        loop, client = self._loop, self._client
        if loop is None or client is None or loop.is_closed():
            return
        client._auto_reconnect = False  # the SDK has no public stop; this is what it checks

        async def close() -> None:
            await client._disconnect()

        done = asyncio.run_coroutine_threadsafe(close(), loop)
        await asyncio.wrap_future(done)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    def _run(self) -> None:
        import lark_oapi.ws.client as ws
        from lark_oapi.core.enum import LogLevel
        from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ws.loop = loop  # the SDK runs everything on this module global (see the docstring)
        handler = (
            EventDispatcherHandler.builder("", "")  # frames on the socket are already trusted
            .register_p2_customized_event(inbound.MESSAGE_RECEIVE, self._event)
            .register_p2_card_action_trigger(self._card)
            .build()
        )
        self._client = ws.Client(
            self._app_id,
            self._secret,
            event_handler=handler,
            domain=self._domain,
            log_level=LogLevel.WARNING,
        )
        self._loop = loop
        self._ready.set()
        try:
            self._client.start()
        except RuntimeError:
            pass  # stop(): "Event loop stopped before Future completed"
        except Exception:
            log.exception("feishu long connection ended")
        finally:
            _close(loop)

    def _event(self, data: Any) -> None:
        """The SDK's handler, on its thread: hand the event over, wait for its submit."""
        if self._deliver(_as_dict(data)):
            raise Redeliver("replica busy")

    def _card(self, data: Any) -> Any:
        from lark_oapi.event.callback.model.p2_card_action_trigger import (
            P2CardActionTriggerResponse,
        )

        payload = _as_dict(data)
        payload.setdefault("header", {})["event_type"] = inbound.CARD_ACTION
        if self._deliver(payload):
            raise Redeliver("replica busy")
        return P2CardActionTriggerResponse({})

    def _deliver(self, payload: dict[str, Any]) -> bool:
        assert self._bot_loop is not None
        future = asyncio.run_coroutine_threadsafe(self._on_event(payload), self._bot_loop)
        try:
            return bool(future.result(timeout=SUBMIT_BUDGET_S))
        except concurrent.futures.TimeoutError:
            return False  # submitted late; an ack now beats a redelivery that duplicates work
        except Exception:
            log.exception("feishu event could not be handled")
            return False  # a malformed event will not improve: ack it


def _as_dict(data: Any) -> dict[str, Any]:
    """The SDK's typed event back as the JSON it was (the HTTP path reads the same shape)."""
    from lark_oapi.core.json import JSON

    parsed = json.loads(JSON.marshal(data) or "{}")
    return parsed if isinstance(parsed, dict) else {}


def _close(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel the SDK's leftover tasks (ping loop, receive loop) and close the loop."""
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.close()
