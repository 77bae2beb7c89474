"""``bot agents add|list|remove`` against the bot's own (embedded) Redis, and the serve hint."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from adapters.agent_console import agent_store
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import Settings
from service.cli import main
from service.escalation import build_handoff
from tests.conftest import make_client


def _bot(data_dir: Path, *args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), "agents", *args], input=stdin)


def test_add_list_remove(tmp_path: Path) -> None:
    added = _bot(tmp_path, "add", "小王", "--password-stdin", stdin="a long password\n")
    assert added.exit_code == 0, added.output
    prompted = _bot(tmp_path, "add", "bob", stdin="another password\nanother password\n")
    assert prompted.exit_code == 0, prompted.output
    listed = _bot(tmp_path, "list")
    assert listed.output.splitlines() == ["bob", "小王", "2 agent(s)"]
    assert _bot(tmp_path, "remove", "bob").exit_code == 0
    assert _bot(tmp_path, "list").output.splitlines() == ["小王", "1 agent(s)"]


def test_bad_input_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    short = _bot(tmp_path, "add", "alice", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and short.output.strip().count("\n") == 0
    assert "at least 8 characters" in short.output and "Traceback" not in short.output
    bad_name = _bot(tmp_path, "add", "a b", "--password-stdin", stdin="a long password\n")
    assert bad_name.exit_code == 1 and "agent names" in bad_name.output
    missing = _bot(tmp_path, "remove", "nobody")
    assert missing.exit_code == 1 and missing.output.strip() == "error: no agent nobody"


async def test_passwords_are_stored_only_as_argon2_hashes(make_runtime) -> None:
    rt = await make_runtime()
    store = agent_store(rt.host("console"))
    await store.add("alice", "a long password")
    stored = await rt.redis.hget(f"{rt.settings.redis_prefix}:agents", "alice")
    assert b"a long password" not in stored and b"$argon2id$" in stored
    assert await store.verify("alice", "a long password")
    assert not await store.verify("alice", "a wrong password")
    assert not await store.verify("nobody", "a long password")
    session = await store.open_session("alice")
    ttl = await rt.redis.ttl(store._session_key(session.token))
    assert 0 < ttl <= rt.settings.agent_session_ttl_s
    assert not await rt.redis.exists(f"{rt.settings.redis_prefix}:agent-session:{session.token}")


async def test_serve_says_how_to_add_an_agent_when_there_is_none(
    redis_client, redis_target: dict[str, Any], settings: Settings, caplog
) -> None:
    rt = Runtime(settings, RedisHandle(make_client(redis_target), "test"))
    build_handoff(rt)  # the default staff channel: the console
    with caplog.at_level(logging.WARNING):
        await rt.start()
        await rt.stop()
    hints = [r.getMessage() for r in caplog.records if "bot agents add" in r.getMessage()]
    assert len(hints) == 1 and "\n" not in hints[0]
