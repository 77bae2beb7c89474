"""A fake WeChat platform: the API server and requests built like WeChat's servers build them.

``FakeWeChat`` is an aiohttp server on 127.0.0.1 (port 0) answering
``/cgi-bin/token`` and ``/cgi-bin/message/custom/send`` like the real API: it
issues tokens, rejects stale ones with errcode 40001, and records every sent
message in ``sent``. ``fail_next`` scripts failures: an int is an HTTP status
(500, 429), a string an errcode ("40001", "45015", "45047").

The request helpers sign (and in safe mode encrypt, with wechatpy's
``WeChatCrypto``) exactly as WeChat does, so tests post what WeChat would post.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from tests.fakes import listen

TOKEN, APP_ID, SECRET = "test-token", "wx0123456789abcdef", "test-secret"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat issues them
ACCOUNT = "gh_testaccount"


@dataclass
class FakeWeChat:
    """The API side of WeChat."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    token_fetches: int = 0
    fail_next: list[int | str] = field(default_factory=list)
    current_token: str = ""
    runner: web.AppRunner | None = None
    base_url: str = ""
    # called with each accepted customer-service message body
    listener: Callable[[dict[str, Any]], None] | None = None

    async def start(self, port: int = 0) -> FakeWeChat:
        """Listen on 127.0.0.1 (``port`` 0: any free port); ``base_url`` is then set."""
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)
        self.runner, self.base_url = await listen(app, port)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _token(self, request: web.Request) -> web.Response:
        if request.query.get("appid") != APP_ID or request.query.get("secret") != SECRET:
            return web.json_response({"errcode": 40013, "errmsg": "invalid appid"})
        self.token_fetches += 1
        self.current_token = f"TOKEN-{self.token_fetches}"
        return web.json_response({"access_token": self.current_token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        if self.fail_next:
            failure = self.fail_next.pop(0)
            if isinstance(failure, int):
                return web.json_response(
                    {"errmsg": "busy"}, status=failure, headers={"Retry-After": "0"}
                )
            return web.json_response({"errcode": int(failure), "errmsg": "scripted failure"})
        token = request.query.get("access_token")
        if self.current_token == "expired" and token:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if token != self.current_token:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        message = json.loads(await request.read())
        self.sent.append(message)
        if self.listener is not None:
            self.listener(message)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def expire_token(self) -> None:
        """Invalidate the issued token, as WeChat does at expiry: sends get errcode 42001."""
        self.current_token = "expired"

    def texts(self) -> list[str]:
        return [m["text"]["content"] for m in self.sent]


def signature(*parts: str) -> str:
    """WeChat's sha1 over the sorted parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(openid: str, content: str, *, msg_id: str = "", create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
        f"</FromUserName><CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id or uuid.uuid4().int % 10**16}</MsgId></xml>"
    )


def event_xml(openid: str, event: str, *, key: str = "", create_time: int | None = None) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
        f"</FromUserName><CreateTime>{create_time or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>"
        f"<EventKey><![CDATA[{key}]]></EventKey></xml>"
    )


def media_xml(openid: str, msg_type: str, *, recognition: str = "") -> str:
    extra = (
        f"<Recognition><![CDATA[{recognition}]]></Recognition><Format>amr</Format>"
        if msg_type == "voice"
        else "<PicUrl><![CDATA[http://x/y.jpg]]></PicUrl>"
    )
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]>"
        f"</FromUserName><CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]>"
        f"</MsgType>{extra}<MediaId><![CDATA[m1]]></MediaId>"
        f"<MsgId>{uuid.uuid4().int % 10**16}</MsgId></xml>"
    )


def plain_post(
    xml: str, *, token: str = TOKEN, timestamp: int | None = None
) -> tuple[dict[str, str], bytes]:
    """Query and body of a plaintext-mode POST."""
    ts, nonce = str(timestamp or int(time.time())), uuid.uuid4().hex[:10]
    query = {
        "signature": signature(token, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "openid": "x",
    }
    return query, xml.encode()


def aes_post(xml: str) -> tuple[dict[str, str], bytes]:
    """Query and body of a safe-mode POST, encrypted as WeChat encrypts."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    envelope = crypto.encrypt_message(xml, nonce, ts)
    encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    msg_signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    query = {
        "signature": signature(TOKEN, ts, nonce),
        "timestamp": ts,
        "nonce": nonce,
        "encrypt_type": "aes",
        "msg_signature": msg_signature,
    }
    body = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    )
    return query, body.encode()


def decrypt_reply(xml: str, query: dict[str, str]) -> str:
    """The plain XML of an encrypted passive reply."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    sig = xml.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
    ts = xml.split("<TimeStamp>")[1].split("</TimeStamp>")[0]
    nonce = xml.split("<Nonce><![CDATA[")[1].split("]]>")[0]
    return str(crypto.decrypt_message(xml, sig, ts, nonce))


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wechat"


def fixture(name: str, **fields: str | int) -> str:
    """A recorded inbound payload (``tests/fixtures/wechat/<name>.xml``), fields overridden.

    ``fixture("text", MsgId=1, CreateTime=...)`` swaps the element's value, so
    one recording serves many tests without colliding in the dedupe store.
    """
    xml = (FIXTURES / f"{name}.xml").read_text(encoding="utf-8")
    for tag, value in fields.items():
        xml = re.sub(
            rf"<{tag}>(<!\[CDATA\[)?.*?(\]\]>)?</{tag}>",
            lambda m, v=value, t=tag: f"<{t}>{m.group(1) or ''}{v}{m.group(2) or ''}</{t}>",
            xml,
        )
    return xml


def main(argv: list[str] | None = None) -> None:
    """Local try-out: ``serve`` the fake API, or ``post`` a signed message to a running bot.

    python -m tests.fakes.wechat serve --port 9100
    python -m tests.fakes.wechat post "我的订单到哪了" --bot http://127.0.0.1:8000 [--aes]
    """
    import argparse
    import asyncio

    import httpx

    parser = argparse.ArgumentParser(prog="python -m tests.fakes.wechat")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the fake WeChat API until Ctrl-C")
    serve.add_argument("--port", type=int, default=9100)
    post = sub.add_parser("post", help="send one signed text message as user o-demo")
    post.add_argument("text")
    post.add_argument("--bot", default="http://127.0.0.1:8000")
    post.add_argument("--user", default="o-demo")
    post.add_argument("--aes", action="store_true", help="safe mode (bot needs WECHAT_AES_KEY)")
    args = parser.parse_args(argv)
    if args.command == "serve":

        async def run() -> None:
            fake = await FakeWeChat().start(args.port)
            print(f"fake WeChat API on {fake.base_url} (app id {APP_ID}, secret {SECRET})")
            try:
                while True:
                    await asyncio.sleep(1)
                    while fake.sent:
                        print("customer-service send:", fake.sent.pop(0))
            finally:
                await fake.stop()

        asyncio.run(run())
        return
    xml = text_xml(args.user, args.text)
    query, body = aes_post(xml) if args.aes else plain_post(xml)
    response = httpx.post(f"{args.bot}/webhooks/wechat", params=query, content=body, timeout=10)
    answer = decrypt_reply(response.text, query) if "<Encrypt>" in response.text else response.text
    print(response.status_code, answer)


if __name__ == "__main__":
    main()
