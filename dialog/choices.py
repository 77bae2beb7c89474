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
from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot.models import Button
from bot.turn import Turn
from dialog.flows import FlowRunner
from nlu.types import ParseResult

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


class WhichFirst:
    """Asks which of several requests to take first, and reads the answer."""

    def __init__(self, runner: FlowRunner, triggers: Mapping[str, str]) -> None:
        self.runner = runner
        self.triggers = triggers  # intent -> the flow it starts

    def ask(self, turn: Turn, parse: ParseResult) -> bool:
        """Two requests in one message ("快递到哪了？还有我要开发票"): ask which to take first.

        Each flow asks its own questions, so running both at once would interleave
        them; one button per request, in the order written, keeps it one at a time.
        The offer is remembered for the next turn only (``which_first``).
        """
        names = [r for r in parse.extra.get("requests", ()) if r in self.triggers]
        names = [r for r in names if f"request_{r}" in self.runner.templates]
        if len(names) < 2:
            return False
        ctx = turn.context
        assert ctx is not None
        render = self.runner.templates.render
        choices = tuple(Button(render(f"request_{r}", ctx.lang, {}).text, f"/{r}") for r in names)
        turn.replies.append(replace(render("which_first", ctx.lang, {}), buttons=choices))
        ctx.state["which_first"] = names
        return True

    async def answer(self, turn: Turn, parse: ParseResult, intent: str, offered: list[str]) -> bool:
        """The answer to the offer: start the request it picks (:func:`picked`), if any."""
        ctx = turn.context
        assert ctx is not None
        render = self.runner.templates.render
        titles = [(r, render(f"request_{r}", ctx.lang, {}).text) for r in offered]
        choice = picked(parse.text, intent, titles)
        if choice is None or choice not in self.triggers:  # a reload may have removed it
            return False
        ctx.fallback_count = 0
        await self.runner.start(turn, self.triggers[choice], parse)
        return True
