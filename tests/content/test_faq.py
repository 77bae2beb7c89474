"""The bundled FAQ list: enough entries, paraphrases and consistent answers in both languages."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

FAQ_FILE = Path(__file__).resolve().parents[2] / "config" / "faq.yml"
REQUIRED_TOPICS = {
    "shipping_fee", "delivery_time", "business_hours", "payment_methods", "warranty",
    "invoice_rules", "return_policy", "refund_time", "exchange", "coupons", "points",
    "order_cancellation", "international", "gift_wrap", "price_protection", "authenticity",
    "presale", "contact",
}  # fmt: skip


def _faqs() -> list[dict[str, Any]]:
    data = yaml.safe_load(FAQ_FILE.read_text(encoding="utf-8"))
    faqs = data["faqs"]
    assert isinstance(faqs, list)
    return faqs


def test_enough_entries_covering_the_required_topics() -> None:
    ids = [faq["id"] for faq in _faqs()]
    assert len(ids) >= 18
    assert len(ids) == len(set(ids)), "duplicate FAQ ids"
    assert REQUIRED_TOPICS <= set(ids), f"missing topics: {REQUIRED_TOPICS - set(ids)}"


def test_every_entry_has_paraphrases_and_answers_in_both_languages() -> None:
    for faq in _faqs():
        questions, answer = faq["questions"], faq["answer"]
        assert len(set(questions["zh-CN"])) >= 5, faq["id"]
        assert len(set(questions["en"])) >= 3, faq["id"]
        for text in [*questions["zh-CN"], *questions["en"], answer["zh-CN"], answer["en"]]:
            assert isinstance(text, str) and text.strip(), faq["id"]
        # A template placeholder in an answer would reach the user unfilled.
        assert not re.search(r"\{\w+\}", answer["zh-CN"] + answer["en"]), faq["id"]


def test_a_question_belongs_to_one_entry_only() -> None:
    owner: dict[str, str] = {}
    for faq in _faqs():
        for question in [*faq["questions"]["zh-CN"], *faq["questions"]["en"]]:
            key = question.strip().lower()
            assert key not in owner, f"{question!r} in {owner[key]} and {faq['id']}"
            owner[key] = faq["id"]


def test_answers_agree_with_each_other() -> None:
    """One shop: the figures quoted in different answers must not contradict."""
    answers = {faq["id"]: faq["answer"] for faq in _faqs()}
    assert "99" in answers["shipping_fee"]["zh-CN"] and "99" in answers["shipping_fee"]["en"]
    assert "7 天" in answers["return_policy"]["zh-CN"]
    assert "7" in answers["return_policy"]["en"]
    hours = "9:00-21:00"
    assert hours in answers["business_hours"]["zh-CN"] and hours in answers["business_hours"]["en"]
    assert hours in answers["contact"]["zh-CN"]
