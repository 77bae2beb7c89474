"""``bot tickets [--status ...]`` lists the tickets stored in Redis."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import redis.asyncio as aioredis
from click.testing import CliRunner

from bot.escalation.tickets import TicketStore
from bot.keys import Keys
from service.cli import main

URL = "redis://127.0.0.1:6379/15"


async def _seed(prefix: str) -> str:
    client = aioredis.from_url(URL)
    store = TicketStore(client, Keys(prefix))
    open_one = await store.create(
        conversation="{slack:T:D1}",
        address={"platform": "slack", "user_id": "U1", "conversation_id": "D1"},
        reason="complaint",
        summary={},
        transcript=[],
    )
    done = await store.create(
        conversation="{wechat:gh:o1}",
        address={"platform": "wechat", "user_id": "o1", "conversation_id": "o1"},
        reason="human_agent",
        summary={},
        transcript=[],
    )
    await store.close(done, status="resolved", by="UA")
    await client.aclose()
    return open_one.id


async def _cleanup(prefix: str) -> None:
    client = aioredis.from_url(URL)
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def test_bot_tickets_lists_and_filters_by_status(tmp_path: Path) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    pending = asyncio.run(_seed(prefix))
    env = {"REDIS_URL": URL, "REDIS_PREFIX": prefix}
    try:
        runner = CliRunner()
        every = runner.invoke(main, ["--data-dir", str(tmp_path), "tickets"], env=env)
        assert every.exit_code == 0, every.output
        assert "2 ticket(s)" in every.output and pending in every.output
        only = runner.invoke(
            main, ["--data-dir", str(tmp_path), "tickets", "--status", "pending"], env=env
        )
        assert only.exit_code == 0, only.output
        assert "1 ticket(s)" in only.output and "complaint" in only.output
        assert "human_agent" not in only.output
    finally:
        asyncio.run(_cleanup(prefix))
