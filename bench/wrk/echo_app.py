"""The bare-echo floor for ``bench/wechat_wrk.py``: a WeChat webhook with no bot behind it.

Checks the plaintext-mode signature (sha1 over sorted token, timestamp, nonce)
and answers a passive text reply addressed back to the sender; no Redis, no
NLU, no state. It runs under the same uvicorn settings as ``bot serve`` (its
default loop and HTTP parser, uvloop and httptools when installed, no access
log), in one process, so the bot's throughput can be read as a ratio of it.

    .venv/bin/python bench/wrk/echo_app.py --port 8001 --token TOKEN
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import re
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

_FROM = re.compile(rb"<FromUserName><!\[CDATA\[(.*?)\]\]></FromUserName>")
_TO = re.compile(rb"<ToUserName><!\[CDATA\[(.*?)\]\]></ToUserName>")


def app(token: str) -> Starlette:
    """The echo webhook on ``/webhooks/wechat``, the bot's own path."""

    async def wechat(request: Request) -> Response:
        q = request.query_params
        parts = sorted((token, q.get("timestamp", ""), q.get("nonce", "")))
        expected = hashlib.sha1("".join(parts).encode()).hexdigest()
        if not hmac.compare_digest(expected, q.get("signature", "")):
            return PlainTextResponse("bad signature", status_code=403)
        body = await request.body()
        sender, account = _FROM.search(body), _TO.search(body)
        if sender is None or account is None:
            return PlainTextResponse("malformed XML", status_code=400)
        xml = (
            f"<xml><ToUserName><![CDATA[{sender[1].decode()}]]></ToUserName>"
            f"<FromUserName><![CDATA[{account[1].decode()}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[echo]]></Content></xml>"
        )
        return Response(xml, media_type="application/xml")

    return Starlette(routes=[Route("/webhooks/wechat", wechat, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    # as service/cli/serve.py configures uvicorn: default loop and parser, no access log
    uvicorn.run(
        app(args.token),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
