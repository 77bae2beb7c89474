"""Bundled slot validators (dialog/validators.py)."""

from __future__ import annotations

import pytest

from dialog.validators import invoice_title


@pytest.mark.parametrize(
    ("typed", "title"),
    [
        ("个人", "个人"),
        ("Personal", "个人"),
        ("“小美科技有限公司”", "小美科技有限公司"),
        ("呢喃服饰有限公司", "呢喃服饰有限公司"),
        ("Acme Trading Ltd.", "Acme Trading Ltd."),
    ],
)
def test_names_are_titles(typed: str, title: str) -> None:
    assert invoice_title(typed) == title


@pytest.mark.parametrize(
    "typed",
    [
        "帮我订一张明天去上海的机票",
        "发票什么时候能开好",
        "可以开专票吗",
        "算了",
        "can I pay by card?",
        "never mind",
        "book me a flight to paris",
        "x",
    ],
)
def test_questions_and_requests_are_not_titles(typed: str) -> None:
    with pytest.raises(ValueError):
        invoice_title(typed)
