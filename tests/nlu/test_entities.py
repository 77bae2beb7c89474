"""Rule extractors on real-looking Chinese and English messages, with exact spans."""

from __future__ import annotations

import datetime as dt

import pytest

from nlu.entities import extract
from nlu.normalize import fold, for_classifier
from nlu.numerals import parse_chinese_number

TODAY = dt.date(2026, 11, 22)  # a Sunday


def found(text: str) -> list[tuple[str, str, object]]:
    entities = extract(text, today=TODAY)
    for e in entities:
        assert text[e.start : e.end] == e.value  # spans index the original text
    return [(e.type, e.value, e.normalized) for e in entities]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的订单20231122001到哪了", [("order_id", "20231122001", "20231122001")]),
        ("订单号: AB123456", [("order_id", "AB123456", "AB123456")]),
        ("顺丰SF123456789012还没到", [("tracking_no", "SF123456789012", "SF123456789012")]),
        ("圆通yt1234567890123", [("tracking_no", "yt1234567890123", "YT1234567890123")]),
        ("中通75312345678901", [("tracking_no", "75312345678901", "75312345678901")]),
        ("电话１３８１２３４５６７８", [("phone", "１３８１２３４５６７８", "13812345678")]),
        ("call +86 139 8765 4321", [("phone", "+86 139 8765 4321", "13987654321")]),
        (
            "邮箱 Zhang.San@Example.com 谢谢",
            [("email", "Zhang.San@Example.com", "zhang.san@example.com")],
        ),
        ("退三百五十元给我", [("money", "三百五十元", 350.0)]),
        ("一共¥99.5", [("money", "¥99.5", 99.5)]),
        ("两百块", [("money", "两百块", 200.0)]),
        ("买了三双鞋", [("quantity", "三双", 3)]),
        ("2 pcs please", [("quantity", "2 pcs", 2)]),
    ],
)
def test_extractors(text: str, expected: list[tuple[str, str, object]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("今天", "2026-11-22"),
        ("明天下午送", "2026-11-23T14:00"),
        ("后天", "2026-11-24"),
        ("下周一可以吗", "2026-11-23"),
        ("周三", "2026-11-25"),
        ("3月5号", "2027-03-05"),
        ("三月五号", "2027-03-05"),
        ("2026-12-01", "2026-12-01"),
        ("2026年12月1日", "2026-12-01"),
        ("tomorrow morning", "2026-11-23T09:00"),
        ("next monday", "2026-11-23"),
        ("March 5th", "2027-03-05"),
    ],
)
def test_dates_are_iso(text: str, value: str) -> None:
    dates = [e for e in extract(text, today=TODAY) if e.type == "date"]
    assert [d.normalized for d in dates] == [value]


def test_impossible_date_is_not_a_date() -> None:
    assert found("2月30号") == []


def test_overlaps_prefer_tracking_and_phone_over_order_numbers() -> None:
    assert [t for t, _, _ in found("单号SF123456789012 电话13812345678 订单20231122001")] == [
        "tracking_no",
        "phone",
        "order_id",
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("三百五十", 350),
        ("三百五", 350),
        ("两千零五", 2005),
        ("一万二", 12000),
        ("十五", 15),
        ("二零二三", 2023),
        ("零", 0),
        ("abc", None),
    ],
)
def test_chinese_numerals(text: str, value: int | None) -> None:
    assert parse_chinese_number(text) == value


def test_fold_keeps_length_and_classifier_text_drops_emoji() -> None:
    text = "ＡＢＣ　订单😀１２３"
    assert len(fold(text)) == len(text)
    assert for_classifier(text) == "abc 订单 123"
