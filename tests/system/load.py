"""Signed webhook load across WeChat, Slack and DingTalk, and a ledger that checks every reply.

The :class:`Driver` plays the three platforms' delivery side: AES-encrypted,
signed WeChat XML with WeChat's retries (same MsgId, up to 3 tries), signed
Slack events with Slack's retries (``X-Slack-Retry-Num``), and DingTalk robot
messages pushed through the fake Stream gateway, which redelivers unacked
frames. Some messages are deliberately delivered twice, and some users send
bursts. The fakes report every reply they receive to the :class:`Ledger`, which
then counts, per conversation, replies seen once, twice or never, and whether
they came in the order the messages were sent.

What a text should get back is learned first by :func:`calibrate`: each text is
sent twice to a fresh user on each platform, and only texts answered the same
way both times (stateless answers, e.g. FAQs and greetings) are used for load.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from tests.fakes import dingtalk as fding
from tests.fakes import slack as fslack
from tests.fakes import wechat as fwechat
from tests.system.ledger import Conv, Expected, Ledger

PLATFORMS = ("wechat", "slack", "dingtalk")
_CONTENT = re.compile(r"<Content><!\[CDATA\[(.*?)\]\]></Content>", re.S)

# Candidate load texts: the first question of some FAQs, a greeting and thanks.
CANDIDATES = (
    "你好",
    "运费怎么算",
    "一般几天能到",
    "支持什么付款方式",
    "保修多久",
    "发票规则是什么",
    "谢谢",
    "How much is shipping?",
)


class Platforms:
    """The three fake platforms, reporting replies to one ledger."""

    def __init__(self, ledger: Ledger, *, redeliver_after_s: float = 10.0) -> None:
        self.ledger = ledger
        self.wechat = fwechat.FakeWeChat()
        self.slack = fslack.FakeSlack()
        self.dingtalk = fding.FakeDingTalk(redeliver_after_s=redeliver_after_s)

    async def start(self) -> Platforms:
        """Start all three and hook their listeners to the ledger."""
        await self.wechat.start()
        await self.slack.start()
        self.dingtalk.start()
        self.wechat.listener = lambda m: self.ledger.reply(
            ("wechat", m["touser"]), m["text"]["content"]
        )
        self.slack.listener = self._on_slack
        self.dingtalk.listener = self._on_dingtalk
        return self

    async def stop(self) -> None:
        """Stop all three."""
        await self.wechat.stop()
        await self.slack.stop()
        self.dingtalk.stop()

    def env(self) -> dict[str, str]:
        """What a replica needs to talk to these platforms."""
        return {
            "WECHAT_TOKEN": fwechat.TOKEN,
            "WECHAT_APP_ID": fwechat.APP_ID,
            "WECHAT_APP_SECRET": fwechat.SECRET,
            "WECHAT_AES_KEY": fwechat.AES_KEY,
            "WECHAT_API_BASE_URL": self.wechat.base_url,
            "SLACK_BOT_TOKEN": fslack.BOT_TOKEN,
            "SLACK_SIGNING_SECRET": fslack.SIGNING_SECRET,
            "SLACK_API_BASE_URL": self.slack.base_url,
            "DINGTALK_CLIENT_ID": fding.CLIENT_ID,
            "DINGTALK_CLIENT_SECRET": fding.CLIENT_SECRET,
            "DINGTALK_API_BASE_URL": self.dingtalk.base_url,
        }

    def _on_slack(self, method: str, args: dict[str, Any]) -> None:
        if method == "chat.postMessage":
            self.ledger.reply(("slack", str(args["channel"])[1:]), str(args.get("text", "")))

    def _on_dingtalk(self, path: str, body: dict[str, Any]) -> None:
        text = fding.message_text(body)
        if text is None:
            return
        if path.startswith("/session/cid"):
            self.ledger.reply(("dingtalk", path.removeprefix("/session/cid")), text)
        for staff in body.get("userIds", []):  # OpenAPI 1:1 sends
            self.ledger.reply(("dingtalk", str(staff).removeprefix("staff")), text)


class Driver:
    """Delivers messages as each platform would, with retries and deliberate duplicates."""

    def __init__(
        self,
        platforms: Platforms,
        replicas: Callable[[], Sequence[str]],
        *,
        duplicate_rate: float = 0.05,
        seed: int = 7,
    ) -> None:
        self.platforms = platforms
        self._replicas = replicas
        self._rr = itertools.count()
        self._ids = itertools.count(int(time.time() * 1000) * 1000)
        self.duplicate_rate = duplicate_rate
        self.rng = random.Random(seed)
        self.retries = 0
        self.duplicates_sent = 0
        self.gave_up = 0
        self.in_flight: Counter[str] = Counter()  # webhook requests awaiting an answer, by URL
        self._session: aiohttp.ClientSession | None = None

    @property
    def ledger(self) -> Ledger:
        """The platforms' ledger (a new run may swap in a fresh one)."""
        return self.platforms.ledger

    async def __aenter__(self) -> Driver:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=400))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._session is not None
        await self._session.close()

    async def send(self, platform: str, user: str, text: str) -> None:
        """Send one message from ``user`` on ``platform``; returns once it was acknowledged."""
        self.ledger.message((platform, user), text)
        deliver = {"wechat": self._wechat, "slack": self._slack, "dingtalk": self._dingtalk}
        again = await deliver[platform](user, text)
        if again is not None and self.rng.random() < self.duplicate_rate:
            self.duplicates_sent += 1
            await asyncio.sleep(self.rng.uniform(0, 0.5))
            await again()

    def _replica(self) -> str:
        urls = self._replicas()
        return urls[next(self._rr) % len(urls)]

    async def _post(self, path: str, *, timeout_s: float, **kwargs: Any) -> tuple[int, str] | None:
        assert self._session is not None
        replica = self._replica()
        self.in_flight[replica] += 1
        try:
            async with self._session.post(
                replica + path, timeout=aiohttp.ClientTimeout(total=timeout_s), **kwargs
            ) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            return None
        finally:
            self.in_flight[replica] -= 1

    async def _wechat(self, user: str, text: str) -> Callable[[], Any] | None:
        xml = fwechat.text_xml(user, text, msg_id=str(next(self._ids)))

        async def deliver() -> bool:
            # WeChat waits 5 s for an answer, then tries again: three tries in all.
            for _ in range(3):
                started = time.perf_counter()
                query, body = fwechat.aes_post(xml)
                answer = await self._post("/webhooks/wechat", timeout_s=5, params=query, data=body)
                if answer is not None and answer[0] < 500:
                    self._passive(user, answer[1], query)
                    return True
                self.retries += 1
                await asyncio.sleep(max(0.0, 5 - (time.perf_counter() - started)))
            self.gave_up += 1
            return False

        return deliver if await deliver() else None

    def _passive(self, user: str, answer: str, query: dict[str, str]) -> None:
        if "<Encrypt>" not in answer:
            return  # "success": nothing now, replies (if any) come through the API
        match = _CONTENT.search(fwechat.decrypt_reply(answer, query))
        if match:
            self.ledger.reply(("wechat", user), match.group(1))

    async def _slack(self, user: str, text: str) -> Callable[[], Any] | None:
        ts = f"{time.time():.6f}"
        event = fslack.dm(text, user=f"U{user}", channel=f"D{user}", ts=ts)
        body = fslack.event_body(event, event_id=f"Ev{next(self._ids)}")

        async def deliver(first: int = 0) -> bool:
            # Slack retries at once, after 1 minute and after 5 minutes; here after 1, 5, 10 s.
            for attempt in range(first, first + 4):
                headers = fslack.signed_headers(body)
                if attempt:
                    headers |= {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "x"}
                answer = await self._post(
                    "/webhooks/slack/events", timeout_s=3, data=body, headers=headers
                )
                if answer is not None and answer[0] < 300:
                    return True
                self.retries += 1
                await asyncio.sleep((1, 5, 10, 10)[attempt - first])
            self.gave_up += 1
            return False

        ok = await deliver()
        return (lambda: deliver(first=1)) if ok else None

    async def _dingtalk(self, user: str, text: str) -> Callable[[], Any] | None:
        data = fding.robot_message(
            text,
            msg_id=f"msg{next(self._ids)}",
            base_url=self.platforms.dingtalk.base_url,
            conversation=f"cid{user}",
            staff_id=f"staff{user}",
        )
        await self.platforms.dingtalk.apush(data)  # the gateway redelivers until acked
        return lambda: self.platforms.dingtalk.apush(data)


async def calibrate(
    driver: Driver, texts: Sequence[str] = CANDIDATES
) -> dict[tuple[str, str], list[str]]:
    """What each text gets back on each platform, for texts answered the same way twice."""
    run = uuid.uuid4().hex[:6]

    async def one(platform: str, i: int, text: str) -> tuple[tuple[str, str], list[str] | None]:
        conv = (platform, f"cal{run}x{i}")
        await driver.send(platform, conv[1], text)
        first = await _quiet(driver.ledger, conv, 0)
        await driver.send(platform, conv[1], text)
        both = await _quiet(driver.ledger, conv, len(first))
        second = both[len(first) :]
        return (platform, text), first if first and first == second else None

    saved = driver.duplicate_rate
    driver.duplicate_rate = 0.0
    try:
        results = await asyncio.gather(
            *(one(p, i, t) for p in PLATFORMS for i, t in enumerate(texts))
        )
    finally:
        driver.duplicate_rate = saved
    stable = {key: value for key, value in results if value is not None}
    usable = {t for t in texts if all((p, t) in stable for p in PLATFORMS)}
    return {key: value for key, value in stable.items() if key[1] in usable}


async def _quiet(ledger: Ledger, conv: Conv, seen: int, quiet_s: float = 1.0) -> list[str]:
    """The conversation's reply texts once more than ``seen`` arrived and none came for a while."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        replies = ledger.replies[conv]
        if len(replies) > seen and time.perf_counter() - replies[-1][0] > quiet_s:
            break
        await asyncio.sleep(0.1)
    return [text for _, text in ledger.replies[conv]]


def texts_for(expected: Expected) -> list[str]:
    """The load texts calibration kept."""
    return sorted({text for _, text in expected})


async def open_loop(
    driver: Driver,
    texts: Sequence[str],
    *,
    rate: float,
    messages: int,
    users: int,
    burst_rate: float = 0.05,
    prefix: str = "",
) -> float:
    """Send ``messages`` at ``rate`` per second whatever the replies do; returns the start time.

    Platforms rotate; users are drawn at random from ``users`` per platform; a
    fraction ``burst_rate`` of arrivals is a burst of three messages, 20 ms apart,
    from one user.
    """
    rng = driver.rng
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    sent = 0
    while sent < messages:
        delay = started + sent / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        platform = PLATFORMS[sent % len(PLATFORMS)]
        user = f"{prefix}{rng.randrange(users)}"
        count = 3 if rng.random() < burst_rate else 1
        tasks.append(asyncio.create_task(_burst(driver, platform, user, texts, count)))
        sent += count
    await asyncio.gather(*tasks)
    return started


async def _burst(driver: Driver, platform: str, user: str, texts: Sequence[str], n: int) -> None:
    sends = []
    for i in range(n):
        if i:
            await asyncio.sleep(0.02)
        sends.append(asyncio.create_task(driver.send(platform, user, driver.rng.choice(texts))))
    await asyncio.gather(*sends)
