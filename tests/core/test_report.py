"""`bot report` and `bot transcript` over a real SQLite record."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.records import Record, open_store
from bot.records.report import build_report, parse_span


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
