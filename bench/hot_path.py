"""Per-message costs around the pipeline, before and after, as ratios measured in one run.

1. The HTTP stack: the CPU a ``uvicorn`` server process spends per webhook-sized
   POST with the stdlib asyncio loop and the pure-Python h11 parser (before),
   and with uvloop and httptools (after, what ``bot serve`` uses when they are
   installed). Server CPU per request (user + system, from /proc), not the
   driver's throughput: the driver runs in another process and its own cost is
   left out, so the ratio holds on a contended machine.
2. The context's JSON, encoded and decoded once per turn: ``json`` (before) and
   ``orjson`` (after) on a context with a full history.

    .venv/bin/python bench/hot_path.py [--requests 4000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import timeit
from pathlib import Path

import httpx
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.stores.context import _FIELDS, Context, decode_context, encode_context

# A webhook of about WeChat's size, answered with a passive reply of about its size.
SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def hook(request):
    body = await request.body()
    return Response(b"<xml><Content><![CDATA[ok]]></Content></xml>" + body[:16],
                    media_type="application/xml")

app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop=sys.argv[2], http=sys.argv[3],
            log_level="warning", access_log=False)
"""
BODY = b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName>" + "您好，我的订单到哪了".encode() * 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_cpu_us(loop: str, http: str, requests: int) -> float:
    """Server CPU microseconds per request for one loop/parser pair."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), loop, http])
    try:
        url = f"http://127.0.0.1:{port}/hook"
        with httpx.Client(timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.post(url, content=BODY)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            for _ in range(200):  # warm up
                client.post(url, content=BODY)
            server = psutil.Process(proc.pid)
            before = server.cpu_times()
            for _ in range(requests):
                assert client.post(url, content=BODY).status_code == 200
            after = server.cpu_times()
        spent = (after.user - before.user) + (after.system - before.system)
        return spent / requests * 1e6
    finally:
        proc.terminate()
        proc.wait(10)


def sample_context() -> Context:
    ctx = Context(conversation="wechat:gh_1:oUser123")
    for i in range(20):
        ctx.add_turn("user", f"我的订单 {i} 到哪了？能帮我查一下吗", 20)
        ctx.add_turn("bot", f"您的订单 {i} 已发货，预计明天送达。还有什么可以帮您？", 20)
    ctx.slots.update({"order_id": "A1234567", "phone": "138****0000", "reason": "尺码不合适"})
    return ctx


def json_round_trip_us(number: int) -> tuple[float, float]:
    """µs per encode+decode of a full context's fields: the stdlib (before) and orjson (after)."""
    ctx = sample_context()
    payload = {name: getattr(ctx, name) for name in _FIELDS}

    def before() -> None:
        json.loads(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))

    def after() -> None:
        orjson.loads(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))

    assert decode_context(ctx.conversation, encode_context(ctx)) == ctx  # what the bot runs
    t_before = min(timeit.repeat(before, number=number, repeat=5)) / number * 1e6
    t_after = min(timeit.repeat(after, number=number, repeat=5)) / number * 1e6
    return t_before, t_after


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = psutil.getloadavg()
    print(f"load average {load[0]:.2f}, cores {psutil.cpu_count()}; best of {args.rounds} rounds")
    pairs = [
        ("asyncio", "h11"),
        ("asyncio", "httptools"),
        ("uvloop", "h11"),
        ("uvloop", "httptools"),
    ]
    costs = {p: min(server_cpu_us(*p, args.requests) for _ in range(args.rounds)) for p in pairs}
    base = costs[pairs[0]]
    print("\n| loop | HTTP parser | server CPU µs/request | ratio to asyncio+h11 |")
    print("|---|---|---|---|")
    for (loop, http), cost in costs.items():
        print(f"| {loop} | {http} | {cost:.0f} | {cost / base:.2f} |")
    before, after = json_round_trip_us(2000)
    print("\n| context JSON (20-turn history), encode+decode | µs | ratio to json |")
    print("|---|---|---|")
    print(f"| json (stdlib) | {before:.1f} | 1.00 |")
    print(f"| orjson | {after:.1f} | {after / before:.2f} |")


if __name__ == "__main__":
    main()
