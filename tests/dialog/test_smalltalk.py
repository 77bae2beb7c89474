"""The small-talk rules: questions about the bot and abuse, and nothing else."""

from __future__ import annotations

import pytest

from dialog.smalltalk import ABUSE, BOT_IDENTITY, small_talk


@pytest.mark.parametrize(
    "text",
    [
        "你是机器人吗",
        "你是真人吗",
        "是机器人吗？",
        "are you a bot",
        "Are u a robot?",
        "am i talking to a bot",
        "is this a real person?",
    ],
)
def test_questions_about_the_bot(text: str) -> None:
    assert small_talk(text) == BOT_IDENTITY


@pytest.mark.parametrize(
    "text",
    ["go to hell", "你这个傻逼", "滚", "滚蛋", "垃圾客服", "fuck off", "stupid bot", "你sb吧"],
)
def test_abuse(text: str) -> None:
    assert small_talk(text) == ABUSE


@pytest.mark.parametrize(
    "text",
    [
        "我要转人工",
        "人工客服",
        "滚筒洗衣机坏了",
        "质量太垃圾了",
        "thanks",
        "ok",
        "where is my order",
        "我想和真人客服说话",
    ],
)
def test_ordinary_messages_are_not_small_talk(text: str) -> None:
    assert small_talk(text) is None
