"""Web chat over a real server and WebSocket, across two replicas sharing one Redis."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
import websockets

from adapters import web
from bot.escalation.texts import CUSTOMER
from bot.models import Address, Reply
from bot.runtime import Runtime
from bot.turn import Turn
from service.app import create_app
from service.plugins import add_platform
from tests.helpers import until


class Echo:
    async def respond(self, turn: Turn) -> None:
        turn.say(f"echo:{turn.message.payload or turn.message.text}")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(runtime: Runtime) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = _port()
    app = create_app(runtime)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started)  # uvicorn exposes a flag, not an event
    return server, task, port


@pytest.fixture
async def replicas(make_runtime) -> AsyncIterator[list[tuple[Runtime, int]]]:
    out, servers = [], []
    for _ in range(2):
        rt = await make_runtime()
        channel = add_platform(rt, web.PLATFORM)
        await channel.start()
        rt.use(brain=Echo())
        server, task, port = await _serve(rt)
        servers.append((server, task))
        out.append((rt, port))
    yield out
    for server, task in servers:
        server.should_exit = True
        await task


async def _subscribed(runtime: Runtime, cid: str) -> bool:
    """Whether a page's socket (on any replica) listens to the conversation's channel."""
    key = Address(platform="web", conversation_id=cid, user_id=cid, account="local").key
    channel = runtime.keys.web_channel(key)
    return bool((await runtime.redis.pubsub_numsub(channel))[0][1])


async def _recv(ws: websockets.ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout=30))  # a guard, not a wait


async def test_message_reply_button_and_bad_frames(replicas) -> None:
    (_, port), _ = replicas
    async with websockets.connect(f"ws://127.0.0.1:{port}/webchat?cid=alice01") as ws:
        await ws.send(json.dumps({"type": "message", "id": "m1", "text": "你好"}))
        assert (await _recv(ws))["text"] == "echo:你好"
        await ws.send(
            json.dumps({"type": "action", "id": "m2", "payload": "/order_status", "text": "查订单"})
        )
        assert (await _recv(ws))["text"] == "echo:/order_status"
        await ws.send(
            json.dumps({"type": "message", "id": "m1", "text": "你好"})
        )  # resend: deduplicated
        await ws.send("not json")
        assert (await _recv(ws)) == {"type": "error", "error": "bad frame"}


async def test_delivery_on_another_replica_reaches_the_socket(replicas) -> None:
    (_, port_a), (rt_b, _) = replicas
    async with websockets.connect(f"ws://127.0.0.1:{port_a}/webchat?cid=bob02") as ws:
        await until(lambda: _subscribed(rt_b, "bob02"))
        address = Address(platform="web", conversation_id="bob02", user_id="bob02", account="local")
        await rt_b.outbound.deliver(address, [Reply(text="an agent has joined")])
        frame = await _recv(ws)
        assert frame["text"] == "an agent has joined" and frame["kind"] == "bot"


async def test_agent_joined_is_a_notice(replicas) -> None:
    (_, port_a), (rt_b, _) = replicas
    joined = CUSTOMER["joined"]["en"].format(agent="Dana")
    async with websockets.connect(f"ws://127.0.0.1:{port_a}/webchat?cid=dave05") as ws:
        await until(lambda: _subscribed(rt_b, "dave05"))
        address = Address(
            platform="web", conversation_id="dave05", user_id="dave05", account="local"
        )
        await rt_b.outbound.deliver(address, [Reply(text=joined), Reply(text="Hi, Dana here.")])
        first, second = await _recv(ws), await _recv(ws)
    assert (first["kind"], first["text"]) == ("notice", joined)
    assert (second["kind"], second["text"]) == ("bot", "Hi, Dana here.")


async def test_deliveries_while_offline_arrive_on_reconnect(replicas) -> None:
    (rt_a, port_a), _ = replicas
    address = Address(platform="web", conversation_id="carol03", user_id="carol03", account="local")
    await rt_a.outbound.deliver(address, [Reply(text="while you were away")])
    async with websockets.connect(f"ws://127.0.0.1:{port_a}/webchat?cid=carol03") as ws:
        assert (await _recv(ws))["text"] == "while you were away"


async def test_page_is_served(replicas) -> None:
    import httpx

    (_, port), _ = replicas
    async with httpx.AsyncClient() as client:
        page = await client.get(f"http://127.0.0.1:{port}/")
    assert page.status_code == 200 and "/webchat" in page.text and "localStorage" in page.text


async def test_oversized_unknown_and_ill_typed_frames_get_error_frames(replicas) -> None:
    (rt, port), _ = replicas
    big = json.dumps({"type": "message", "id": "b1", "text": "x" * rt.settings.max_body_bytes})
    async with websockets.connect(f"ws://127.0.0.1:{port}/webchat?cid=erin06") as ws:
        for frame in (big, json.dumps({"type": "delete", "id": "u1"}), "[1, 2]", "null"):
            await ws.send(frame)
            assert (await _recv(ws)) == {"type": "error", "error": "bad frame"}
        await ws.send(json.dumps({"type": "message", "id": "ok1", "text": "still here"}))
        assert (await _recv(ws))["text"] == "echo:still here"


async def test_bad_conversation_id_is_refused(replicas) -> None:
    (_, port), _ = replicas
    # Closed before accept: the handshake itself is refused.
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(f"ws://127.0.0.1:{port}/webchat?cid=../etc"):
            pass
    assert refused.value.response.status_code == 403
