"""Normaliser, sensitive filter, misses exported from live parses, and ``bot eval`` end to end."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.console import console_message
from bot.steps import turn_records
from bot.turn import Turn
from nlu.entities import extract
from nlu.misses import write_misses
from nlu.model import IntentModel
from nlu.normalize import for_classifier, normalize
from nlu.safety import SensitiveFilter
from nlu.service import NLUService
from nlu.types import OUT_OF_SCOPE
from service.cli import main


@pytest.mark.parametrize(
    ("text", "normalized", "classifier"),
    [
        ("ＨＥＬＬＯ　Ｗｏｒｌｄ！", "hello world!", "hello world!"),
        ("  我的订单\t\n到哪了  ", "我的订单 到哪了", "我的订单 到哪了"),
        ("谢谢😊👍", "谢谢😊👍", "谢谢"),
        ("退款🙏 Please", "退款🙏 please", "退款 please"),
        ("订单号：ＡＢ１２３", "订单号:ab123", "订单号:ab123"),
    ],
)
def test_normaliser(text: str, normalized: str, classifier: str) -> None:
    assert normalize(text) == normalized
    assert for_classifier(text) == classifier


def test_entities_in_one_mixed_message_keep_original_spans() -> None:
    text = (
        "您好，订单20231122001的快递SF1234567890123没到，电话１３９１２３４５６７８，明天下午在家"
    )
    entities = extract(text, today=dt.date(2026, 11, 22))
    kinds = {e.type: e for e in entities}
    assert set(kinds) >= {"order_id", "tracking_no", "phone", "date"}
    for e in entities:
        assert text[e.start : e.end] == e.value
    assert kinds["phone"].normalized == "13912345678"
    assert kinds["date"].normalized == "2026-11-23T14:00"


def test_sensitive_filter_reads_configured_list(tmp_path: Path) -> None:
    words = tmp_path / "words.txt"
    words.write_text("# comment line\n赌博\n\n  Casino  \n", encoding="utf-8")
    flt = SensitiveFilter.from_file(words)
    assert flt.size == 2
    assert flt.matches("哪里可以赌博") == ["赌博"]
    assert flt.matches("best ＣＡＳＩＮＯ in town") == ["casino"]  # width- and case-insensitive
    assert flt.matches("我要退货") == []
    assert SensitiveFilter.from_file(tmp_path / "missing.txt").matches("赌博") == []


async def test_low_confidence_parses_are_exported_masked_and_counted(
    bundled_model_dir: Path, tmp_path: Path
) -> None:
    service = NLUService(IntentModel.load(bundled_model_dir))
    await service.start()
    try:
        texts = ["今天天气怎么样 我电话13812345678"] * 2 + ["我的订单到哪了"]
        turns = [Turn(message=console_message(t, user="u1"), sink=None) for t in texts]  # type: ignore[arg-type]
        for turn in turns:
            turn.parse = await service.parse(turn.message.text)
    finally:
        await service.stop()
    out = tmp_path / "misses.csv"
    count = write_misses([turn_records(turn)[0] for turn in turns], out)
    content = out.read_text(encoding="utf-8")
    assert "13812345678" not in content  # PII never reaches the export
    oos = [t.parse for t in turns if t.parse.intent.name == OUT_OF_SCOPE]
    assert count == len({r.text for r in oos}) >= 1
    assert "138****5678" in content and ",2," in content  # counted per normalised text
    guess = next(r.name for r in oos[0].ranking if r.name != OUT_OF_SCOPE)
    assert f",{guess}," in content  # the model's best in-scope guess, for the labeller
    assert "我的订单到哪了" not in content


def test_cli_eval_scores_a_file_and_writes_confusion_png(
    bundled_model_dir: Path, tmp_path: Path
) -> None:
    data = tmp_path / "eval.csv"
    data.write_text(
        "text,intent\n你好,greet\n我的订单到哪了,order_status\n我要退货,return_refund\n"
        "转人工,human_agent\n今天天气怎么样,out_of_scope\n",
        encoding="utf-8",
    )
    png = tmp_path / "cm.png"
    result = CliRunner().invoke(
        main,
        [
            "--data-dir",
            str(tmp_path),
            "eval",
            "--data",
            str(data),
            "--format",
            "csv",
            "--model",
            str(bundled_model_dir),
            "--json",
            "--png",
            str(png),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["accuracy"] >= 0.8
    assert {"macro_f1", "per_intent", "latency_ms_p50", "latency_ms_p99"} <= set(report)
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        ("text,intent\n", "csv", "no "),
        ("{}", "rasa", "not a rasa file"),
        ("text,intent\nhi,greet\n", "clinc", "not a clinc file"),
    ],
)
def test_cli_eval_bad_input_exits_nonzero(
    tmp_path: Path, content: str, fmt: str, message: str
) -> None:
    data = tmp_path / "data.txt"
    data.write_text(content, encoding="utf-8")
    args = ["--data-dir", str(tmp_path), "eval", "--data", str(data), "--format", fmt]
    result = CliRunner().invoke(main, args)
    assert result.exit_code != 0
    assert message in result.output


def test_cli_eval_unknown_format_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "x.csv"
    data.write_text("text,intent\nhi,greet\n", encoding="utf-8")
    args = ["--data-dir", str(tmp_path), "eval", "--data", str(data), "--format", "xml"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2 and "xml" in result.output
