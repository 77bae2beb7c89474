"""The bundled bot's training data: fixed intents, enough varied examples, well-formed
annotations, and nothing lifted from the benchmark sets."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "config" / "nlu"
BENCHMARK_DIR = ROOT.parent / "shared" / "data"
INTENTS = {
    "greet", "goodbye", "thanks", "affirm", "deny", "cancel", "human_agent", "complaint",
    "order_status", "track_shipment", "return_refund", "change_address", "invoice", "faq",
    "out_of_scope", "cancel_order",
}  # fmt: skip
SLOTS = {"order_id", "tracking_no", "phone", "address", "reason", "date", "invoice_title"}
MINIMUM = {"zh-CN": 150, "en": 60}
ANNOTATION = re.compile(r"\[([^\[\]()]+)\]\(([a-z_]+)\)")
EMOTICON = re.compile(r"\[[\u4e00-\u9fff]{1,4}\](?!\()")


def _load(lang: str) -> dict[str, Any]:
    """Every file of ``lang`` merged: {"version", "lang", "intents": {intent: [examples]}}."""
    merged: dict[str, Any] = {"version": 1, "lang": lang, "intents": {}}
    for path in sorted(NLU_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict) and data["version"] == 1, path
        if data["lang"] != lang:
            continue
        for intent, examples in data["intents"].items():
            merged["intents"].setdefault(intent, []).extend(examples)
    return merged


def test_every_file_names_a_known_language() -> None:
    for path in NLU_DIR.glob("*.yml"):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["lang"] in MINIMUM, path


def _plain(utterance: str) -> str:
    """The text a user would type: annotations replaced by their values."""
    return ANNOTATION.sub(r"\1", utterance)


@pytest.mark.parametrize("lang", sorted(MINIMUM))
def test_header_and_fixed_intent_set(lang: str) -> None:
    data = _load(lang)
    assert data["version"] == 1
    assert data["lang"] == lang
    assert set(data["intents"]) == INTENTS


@pytest.mark.parametrize("lang", sorted(MINIMUM))
def test_every_intent_has_enough_examples(lang: str) -> None:
    short = {
        intent: len(examples)
        for intent, examples in _load(lang)["intents"].items()
        if len(examples) < MINIMUM[lang]
    }
    assert short == {}, f"intents below {MINIMUM[lang]} examples in {lang}: {short}"


@pytest.mark.parametrize("lang", sorted(MINIMUM))
def test_examples_are_strings_without_duplicates(lang: str) -> None:
    seen: dict[str, str] = {}
    for intent, examples in _load(lang)["intents"].items():
        for example in examples:
            assert isinstance(example, str) and example.strip(), (intent, example)
            key = _plain(example).strip().lower()
            assert key not in seen, f"{example!r} in both {seen[key]} and {intent}"
            seen[key] = intent


@pytest.mark.parametrize("lang", sorted(MINIMUM))
def test_annotations_are_balanced_and_name_known_slots(lang: str) -> None:
    for examples in _load(lang)["intents"].values():
        for example in examples:
            for value, entity in ANNOTATION.findall(example):
                assert entity in SLOTS, f"unknown entity {entity!r} in {example!r}"
                assert value.strip() == value and value, example
            # Once the well-formed annotations and WeChat emoticons ([流泪]) are gone,
            # no bracket may remain.
            rest = EMOTICON.sub("", ANNOTATION.sub("", example))
            assert not re.search(r"[\[\]]|\]\(", rest), f"unbalanced annotation: {example!r}"


def test_chinese_data_covers_entities_and_hard_cases() -> None:
    intents = _load("zh-CN")["intents"]
    annotated = {
        e for examples in intents.values() for ex in examples for _, e in ANNOTATION.findall(ex)
    }
    assert SLOTS <= annotated, f"entities never annotated: {SLOTS - annotated}"
    # Negated requests belong to cancel, never to the request they negate.
    assert "我不想退货了" in intents["cancel"]
    assert "算了不退了" in intents["cancel"]
    assert "那能改到明天送吗" in {_plain(ex) for ex in intents["change_address"]}
    # Short confirmations are the answers users type most.
    assert {"嗯", "好的"} <= set(intents["affirm"])
    assert "不用了" in intents["deny"]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


@cache
def _benchmark_texts() -> frozenset[str]:
    """Every sentence in the benchmark sets, normalised like ours are."""
    texts: set[str] = set()
    for path in BENCHMARK_DIR.rglob("*"):
        if not path.is_file() or path.suffix.lower() == ".md" or path.name == "LICENSE":
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        if path.suffix == ".json":
            texts.update(_strings(json.loads(raw)))
            continue
        delimiter = "," if path.suffix == ".csv" else "\t"
        for row in csv.reader(raw.splitlines(), delimiter=delimiter):
            texts.update(row)
    return frozenset(t.strip().lower() for t in texts)


def _substantial(text: str) -> bool:
    """Whether a sentence is long enough that finding it in a benchmark means copying.

    Formulas such as "你好", "转人工", "see you later" or "no thank you" exist in
    every corpus and cannot be owned by anyone; a sentence is ours to write from
    six Chinese characters or four English words on.
    """
    if re.search(r"[\u4e00-\u9fff]", text):
        return len(text.strip()) >= 6
    return len(text.split()) >= 4


@pytest.mark.skipif(not BENCHMARK_DIR.is_dir(), reason="benchmark data not present")
@pytest.mark.parametrize("lang", sorted(MINIMUM))
def test_nothing_copied_from_the_benchmarks(lang: str) -> None:
    benchmark = _benchmark_texts()
    assert len(benchmark) > 10_000, "benchmark files were not read"
    copied = [
        example
        for examples in _load(lang)["intents"].values()
        for example in examples
        if _substantial(_plain(example)) and _plain(example).strip().lower() in benchmark
    ]
    assert copied == [], f"lines found verbatim in {BENCHMARK_DIR}: {copied}"
