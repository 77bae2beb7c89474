"""`bot report`, `bot export-misses` and `bot transcript` over a real SQLite record."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.console import console_message
from bot.records import Record, open_store
from bot.records.report import OUT_OF_SCOPE, build_report, is_miss, parse_span
from bot.redis_conn import RedisHandle
from bot.runtime import Runtime
from bot.settings import Settings
from bot.steps import turn_records
from bot.turn import Turn
from dialog import testing
from nlu.types import IntentScore, ParseResult
from service.bootstrap import wire
from service.cli import main
from service.plugins import platform_names
from tests.conftest import make_client


def _records(now: float) -> list[Record]:
    def rec(**kw: object) -> Record:
        base = {"platform": "wechat", "conversation": "wechat:gh:o1"}
        return Record(**{**base, **kw})  # type: ignore[arg-type]

    return [
        rec(kind="in", text="你好", intent="greet", ts=now - 100),
        rec(kind="out", text="您好！", ts=now - 99),
        rec(kind="in", text="天气怎么样", intent="out_of_scope", ts=now - 90),
        rec(kind="in", text="转人工 电话13812345678", intent="human_agent", ts=now - 80),
        rec(kind="ticket", ticket_id="T1", event="opened", ts=now - 80),
        rec(kind="ticket", ticket_id="T1", event="claimed", ts=now - 50),
        rec(kind="ticket", ticket_id="T1", event="resolved", ts=now - 20),
        rec(kind="ticket", ticket_id="T1", event="rated", data={"score": 4}, ts=now - 10),
        rec(
            kind="in",
            platform="slack",
            conversation="slack:T:D1",
            text="hi",
            intent="greet",
            ts=now - 5,
        ),
    ]


def test_report_numbers() -> None:
    report = build_report(_records(time.time()))
    assert report.messages_by_platform == {"wechat": 3, "slack": 1}
    assert report.top_intents[0] == ("greet", 2)
    assert report.fallback_rate == pytest.approx(0.25)
    assert report.escalation_rate == pytest.approx(0.5)
    assert report.median_claim_s == pytest.approx(30)
    assert report.median_resolve_s == pytest.approx(60)
    assert report.satisfaction == pytest.approx(4.0)


@pytest.mark.parametrize("bad", ["7", "d", "-1d", "7y"])
def test_bad_spans_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_span(bad)


def test_cli_report_csv_and_transcript(tmp_path: Path) -> None:
    data = tmp_path / "data"

    async def seed() -> None:
        store = await open_store(database_url=None, data_dir=data)
        await store.write(_records(time.time()))
        await store.close()

    asyncio.run(seed())
    runner = CliRunner()
    out_csv = tmp_path / "r.csv"
    result = runner.invoke(
        main, ["--data-dir", str(data), "report", "--since", "1h", "--csv", str(out_csv)]
    )
    assert result.exit_code == 0, result.output
    assert "fallback" in result.output and "0.250" in result.output
    rows = list(csv.reader(out_csv.open(encoding="utf-8")))
    assert ["volume", "wechat", "3"] in rows

    result = runner.invoke(main, ["--data-dir", str(data), "transcript", "T1"])
    assert result.exit_code == 0, result.output
    assert "天气怎么样" in result.output
    assert "13812345678" not in result.output and "138****5678" in result.output

    result = runner.invoke(main, ["--data-dir", str(data), "transcript", "nope"])
    assert result.exit_code == 1

    result = runner.invoke(main, ["--data-dir", str(data), "report", "--since", "soon"])
    assert result.exit_code != 0 and "time span" in result.output


def _turn(text: str, intent: str, confidence: float, **dialog: bool) -> Turn:
    """A finished turn as the pipeline leaves it: the parse and what the dialog made of it."""
    turn = Turn(message=console_message(text, user="u1"), sink=None)  # type: ignore[arg-type]
    turn.parse = ParseResult(text=text, normalized=text, intent=IntentScore(intent, confidence))
    for flag, value in dialog.items():
        setattr(turn, flag, value)
    return turn


async def test_a_slot_answer_is_no_miss_and_a_fallback_is(tmp_path: Path) -> None:
    turns = [
        _turn("我要开发票", "invoice", 0.93),
        # the order number asked for: out of scope for the model, an answer for the dialog
        _turn("20231122003", OUT_OF_SCOPE, 0.21, answered_slot=True),
        _turn("asdfgh", OUT_OF_SCOPE, 0.12, fallback=True),
        # unsure model, and the message answered nothing: a low-confidence parse is a miss
        _turn("那个东西怎么弄", OUT_OF_SCOPE, 0.30),
    ]
    store = await open_store(database_url=None, data_dir=tmp_path)
    await store.write([record for turn in turns for record in turn_records(turn)[:1]])
    stored = await store.query(since=0)
    await store.close()
    assert [is_miss(r) for r in stored] == [False, False, True, True]
    assert build_report(stored).fallback_rate == pytest.approx(2 / 4)


async def test_export_misses_after_a_real_conversation_skips_the_slot_answer(
    bot_settings: Settings, redis_target: dict[str, Any], redis_client: Any, tmp_path: Path
) -> None:
    runtime = wire(
        Runtime(bot_settings, RedisHandle(make_client(redis_target), "test")),
        console_write=lambda _: None,
    )
    testing.prepare(runtime, platform_names())
    await runtime.start()
    try:
        asked = await _say(runtime, "我的订单到哪了")
        assert "订单号" in asked
        await _say(runtime, "20231122001")  # the order number asked for: an answer
        assert "没太明白" in await _say(runtime, "你猜")  # not understood: a fallback
        await runtime.records.flush()
    finally:
        await runtime.stop()
    out = tmp_path / "misses.csv"
    args = ["--data-dir", str(bot_settings.data_dir), "export-misses", "--since", "1h"]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert rows[0] == ["text", "count", "guess", "intent"]
    assert [row[:2] for row in rows[1:]] == [["你猜", "1"]]


async def _say(runtime: Runtime, text: str) -> str:
    """One customer message through the whole pipeline; the bot's replies, joined."""
    sink = testing.CaptureSink()
    await runtime.pipeline.handle(console_message(text, user="report-u1"), sink)
    return "\n".join(reply.text for reply in sink.replies)
