"""The conversation's language: substantive messages decide it, nothing else flips it."""

from __future__ import annotations

import pytest

from bot.lang import EN, ZH, detect_lang


@pytest.mark.parametrize(
    "message",
    [
        "ok",
        "OK!",
        "okay",
        "20231122001",
        "SF123456789012",
        "👍",
        "🙏🙏",
        "asdfghjkl",
        "[微笑]",
        "hahaha",
        "yes",
        "k",
        "lol ok 👍",
        "13812345678",
        "https://example.com/x",
        "1",
    ],
)
def test_neutral_messages_keep_the_conversation_language(message: str) -> None:
    assert detect_lang(message, ZH) == ZH
    assert detect_lang(message, EN) == EN


@pytest.mark.parametrize(
    "message",
    [
        "where is my order",
        "hello",
        "thanks",
        "are you a bot",
        "go to hell",
        "shipping fee?",
        "no wait, order 20231122003",
        "cancel my order",
        "i want to return it",
    ],
)
def test_english_words_make_it_english(message: str) -> None:
    assert detect_lang(message, ZH) == EN


@pytest.mark.parametrize(
    "message",
    ["好的", "ok 好的", "SF123456789012 到哪了", "谢谢 thanks", "订单20231122002的快递到哪了"],
)
def test_chinese_characters_make_it_chinese(message: str) -> None:
    assert detect_lang(message, EN) == ZH


@pytest.mark.parametrize("message", ["hey", "hi", "Hi!", "ok", "hey 👋", "yes"])
def test_a_latin_opening_message_is_english(message: str) -> None:
    """Nothing is established yet: a first "hey" is English; later it changes nothing."""
    assert detect_lang(message, ZH, opening=True) == EN
    assert detect_lang(message, ZH) == ZH


@pytest.mark.parametrize("message", ["20231122001", "👍", "[微笑]", "asdfghjkl", "k", "你好"])
def test_an_opening_message_without_english_words_is_not_english(message: str) -> None:
    assert detect_lang(message, ZH, opening=True) == ZH
