"""What the webhook fuzz modules share: hostile-body strategies, the app on its own loop, a POST.

The app runs on an event loop of its own so hypothesis can drive it example by
example; fakes started in ``wire`` live on that loop and answer while a request
runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from bot.brain import EchoBrain
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import load_settings
from service.app import create_app
from tests.conftest import make_client

OK = {200, 400, 401, 403, 413, 503}  # every answer a hostile request may get; never a 500

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

xml_like = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(
        lambda t: f"<xml><MsgType>text</MsgType><Content>{t}</Content></xml>".encode()
    ),
    st.text(alphabet="<>/![]&;\"' xmlCDATAFromUserName", max_size=300).map(str.encode),
    st.integers(1, 30).map(
        lambda n: (
            '<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "'
            + "x" * 50
            + '">'
            + "".join(f'<!ENTITY a{i} "&a;&a;&a;">' for i in range(n))
            + "]><xml>&a"
            + str(n - 1)
            + ";</xml>"
        ).encode()
    ),
    st.sampled_from([b"\xff\xfe\x00", b"\xed\xa0\x80", "\u202e\u0000\ufeff".encode(), b""]),
)


def nested(depth: int) -> bytes:
    """A JSON array ``depth`` levels deep (a parser's recursion limit)."""
    return ("[" * depth + "]" * depth).encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
    max_leaves=30,
)

json_like = st.one_of(
    st.binary(max_size=2000),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(10, 5000).map(nested),
    st.dictionaries(
        st.sampled_from(["type", "event", "event_id", "team_id", "challenge"]),
        st.text(max_size=20) | st.integers() | st.none(),
        max_size=5,
    ).map(lambda d: json.dumps(d).encode()),
)


@dataclass
class Served:
    """The app on its own loop, the runtime behind it, and a client on it."""

    loop: asyncio.AbstractEventLoop
    runtime: Runtime
    client: httpx.AsyncClient

    def run(self, awaitable: Awaitable[Any]) -> Any:
        """Run ``awaitable`` on the app's loop (the fakes answer meanwhile)."""
        return self.loop.run_until_complete(awaitable)


@contextmanager
def serving(
    redis_target: dict[str, Any],
    data_dir: Path,
    wire: Callable[[Runtime], Awaitable[None]],
) -> Iterator[Served]:
    """A started runtime, ``wire`` having added its platforms, behind the real app (EchoBrain)."""
    loop = asyncio.new_event_loop()
    config = load_settings(data_dir=data_dir, log_json=False)

    async def build() -> Served:
        runtime = Runtime(config, RedisHandle(make_client(redis_target), "fuzz"))
        await wire(runtime)
        await runtime.start()
        runtime.use(brain=EchoBrain())
        transport = httpx.ASGITransport(app=create_app(runtime))
        client = httpx.AsyncClient(transport=transport, base_url="http://bot", timeout=10)
        return Served(loop, runtime, client)

    served = loop.run_until_complete(build())
    try:
        yield served
    finally:
        loop.run_until_complete(served.client.aclose())
        loop.run_until_complete(served.runtime.stop())
        loop.close()


def post(
    served: Served,
    path: str,
    body: bytes,
    *,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, float]:
    """POST ``body``: the status and the seconds it took."""
    started = time.monotonic()
    response = served.run(served.client.post(path, content=body, params=params, headers=headers))
    return response.status_code, time.monotonic() - started
