"""Reading a typed answer to "which first?" (dialog/choices.py)."""

from __future__ import annotations

import pytest

from dialog.choices import picked

EN = [("cancel_order", "Cancel an order"), ("invoice", "Get an invoice")]
ZH = [("track_shipment", "查物流"), ("invoice", "开发票"), ("order_status", "查订单")]


@pytest.mark.parametrize(
    ("answer", "intent", "choices", "expected"),
    [
        ("cancel first", "cancel", EN, "cancel_order"),
        ("the invoice first please", "invoice", EN, "invoice"),
        ("invoice first", "out_of_scope", EN, "invoice"),
        ("2", "out_of_scope", EN, "invoice"),
        ("the second one", "out_of_scope", EN, "invoice"),
        ("先开发票吧", "invoice", ZH, "invoice"),
        ("物流那个", "out_of_scope", ZH, "track_shipment"),
        ("第一个", "out_of_scope", ZH, "track_shipment"),
        ("3", "out_of_scope", ZH, "order_status"),
    ],
)
def test_an_answer_picks_the_request_it_names(answer, intent, choices, expected) -> None:
    assert picked(answer, intent, choices) == expected


@pytest.mark.parametrize(
    ("answer", "choices"),
    [
        ("9", EN),  # no such button
        ("what's the weather", EN),
        ("查物流和查订单", ZH),  # names two alike: ambiguous, read as a new message
    ],
)
def test_an_answer_that_picks_nothing_is_a_new_message(answer, choices) -> None:
    assert picked(answer, "out_of_scope", choices) is None
