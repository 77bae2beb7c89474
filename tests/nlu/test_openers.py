"""The intent model reads the request, not the greeting or filler in front of it."""

from __future__ import annotations

import pytest

from nlu.openers import clauses, request_text, without_closers


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("您好 我想问一下退款多久到账", "退款多久到账"),
        ("嗯呢 好的 那发票呢", "那发票呢"),
        ("亲，在吗？转人工", "转人工"),
        ("hi there, where is my order?", "where is my order?"),
        ("@AmazonHelp my parcel @115821 never came https://t.co/abc", "my parcel never came"),
        ("[微笑]你好 快递到哪了", "快递到哪了"),
    ],
)
def test_openers_and_mentions_are_cut_before_a_request(text: str, wanted: str) -> None:
    assert request_text(text) == wanted


@pytest.mark.parametrize("text", ["你好 在吗", "hi there", "亲亲在吗", "好的", "请问"])
def test_a_message_of_openers_only_stays_whole(text: str) -> None:
    assert request_text(text) == text


@pytest.mark.parametrize(
    ("text", "kept"), [("his order is late", "his order is late"), ("好慢啊", "好慢啊")]
)
def test_words_that_merely_start_like_an_opener_are_kept(text: str, kept: str) -> None:
    assert request_text(text) == kept


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("我的快递到哪了？还有我要开发票", ["我的快递到哪了", "我要开发票"]),
        ("帮我查下物流 另外发票怎么开", ["帮我查下物流", "发票怎么开"]),
        ("where is my parcel? also i need an invoice", ["where is my parcel", "i need an invoice"]),
        ("我要退货，尺码太小了，能退吗", ["我要退货，尺码太小了，能退吗"]),
    ],
)
def test_clauses_split_where_a_second_matter_begins(text: str, parts: list[str]) -> None:
    assert clauses(text) == parts


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        ("我的订单20231122001到哪了", "我的订单#到哪了"),
        ("where is SF123456789012", "where is sf#"),
        ("退我459元", "退我459元"),  # amounts and dates are words, not identifiers
        ("改到2023-11-25送", "改到2023-11-25送"),
    ],
)
def test_order_tracking_and_phone_numbers_are_one_token(text: str, seen: str) -> None:
    """Which order it is never says what the customer wants."""
    assert request_text(text) == seen


@pytest.mark.parametrize(
    ("text", "rest"),
    [
        ("快点发货吧 谢谢啦", "快点发货吧"),
        ("请尽快安排发货，谢谢！", "请尽快安排发货"),
        ("发货了吗 在吗", "发货了吗"),
        ("where is it? thanks", "where is it?"),
        ("send my order asap, thank you!", "send my order asap"),
    ],
)
def test_thanks_or_a_greeting_after_a_request_can_be_cut(text: str, rest: str) -> None:
    assert without_closers(request_text(text)) == rest


@pytest.mark.parametrize(
    "text", ["谢谢", "好的谢谢", "解决了 谢谢", "thanks", "Thanks guys!", "好慢啊"]
)
def test_nothing_is_cut_where_no_request_would_be_left(text: str) -> None:
    assert without_closers(request_text(text)) is None
