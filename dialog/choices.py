"""Which offered request an answer to "which first?" picks.

After "我要取消订单 还要开发票" the bot offers one button per request. A customer
may press one, but also type "1", "cancel first", "先开发票吧" or "the second
one". Read as a fresh message, "cancel first" is the intent cancel, and the bot
once answered "OK, cancelled" while cancelling nothing. So the answer is first
read against the choices: the intent of one of them, its number, words of its
title, an ordinal; otherwise it is a new message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_ORDINALS = (
    ("first", "1st", "第一", "前一", "前面"),
    ("second", "2nd", "第二", "后一", "后面"),
    ("third", "3rd", "第三"),
)
# Title words that say nothing about which request is meant.
_STOP = frozenset("the one and get let lets please change check".split())
_CJK_PAIR = re.compile(r"[\u4e00-\u9fff]{2}")


def picked(answer: str, intent: str, choices: Sequence[tuple[str, str]]) -> str | None:
    """The request an answer picks among ``choices`` ((request, title), as offered), or None."""
    names = [name for name, _ in choices]
    if intent in names:
        return intent
    text = answer.strip().lower()
    if text.isdigit():
        return names[int(text) - 1] if 1 <= int(text) <= len(names) else None
    scores = [_overlap(text, title.lower()) for _, title in choices]
    best = max(scores, default=0)
    if best:
        return names[scores.index(best)] if scores.count(best) == 1 else None
    for index, words in enumerate(_ORDINALS[: len(names)]):
        if any(w in text for w in words):
            return names[index]
    return None


def _overlap(text: str, title: str) -> int:
    """How many of the title's words (English) or character pairs (Chinese) the text has."""
    words = {w for w in re.findall(r"[a-z]{3,}", title) if w not in _STOP}
    pairs = {title[i : i + 2] for i in range(len(title) - 1)}
    found = sum(1 for w in words if re.search(rf"\b{w}", text))
    return found + sum(1 for p in pairs if _CJK_PAIR.fullmatch(p) and p in text)
