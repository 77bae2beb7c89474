"""Two kinds of small talk the intent model has no class for: "are you a bot?" and abuse.

They are rare and worded alike everywhere, so a few rules find them better than
a class trained on a handful of lines would. Abuse must never be greeted or
answered with the menu; a question about the bot deserves a straight answer.
Both are answered in the middle of a flow too, which then resumes.
"""

from __future__ import annotations

import re

BOT_IDENTITY = "bot_identity"
ABUSE = "abuse"

_BOT = re.compile(
    r"你是(不是)?(机器人|真人|人工|ai|人还是机器|真的人|人工智能)"
    r"|是(不是)?(机器人|真人|人工智能|ai)(吗|啊|吧|呀|嘛|\?|？|$)"
    r"|(对面|那边)是(真人|机器人)"
    r"|\bare (you|u) (a |an )?(bot|robot|human|real person|real|ai|machine|person)\b"
    r"|\b(talking|speaking|chatting) (to|with) (a |an )?(bot|robot|machine|real person|human|ai)\b"
    r"|\bis (this|that) (a )?(bot|robot|real person|human|ai)\b"
)
_ABUSE = re.compile(
    r"傻[逼b屄]|煞笔|(?<![a-z])sb(?![a-z])|去死|你妈|他妈的|妈的|操你|草泥马|滚(蛋|开|远点)|(^|[\s,，!！])滚[吧!！]*$"
    r"|脑残|智障|白痴|蠢货|神经病|废物|垃圾(机器人|客服)"
    r"|\bgo to hell\b|\bf+u+c+k|\bf\*+k|\bstfu\b|\bshut up\b|\bidiot\b|\bmoron\b|\bscrew you\b"
    r"|\bdamn you\b|\bpiece of (shit|crap)\b|\b(stupid|useless|dumb) (bot|robot|machine)\b"
)

_ASKS = re.compile(r"投诉|人工|经理|举报|complain|human|agent|manager|supervisor")


def small_talk(text: str) -> str | None:
    """``bot_identity``, ``abuse`` or None for an ordinary message.

    Abuse that also asks for a person or files a complaint ("垃圾客服 我要投诉") is
    that request, not small talk: the intent model takes it.
    """
    folded = text.lower().strip()
    if _ABUSE.search(folded):
        return None if _ASKS.search(folded) else ABUSE
    if _BOT.search(folded):
        return BOT_IDENTITY
    return None
