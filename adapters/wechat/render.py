"""WeChat text replies have no buttons: choices become a numbered menu the user answers by number.

:func:`choices` and :func:`to_text` number the same list in the same order
(buttons, the card's buttons, quick replies), so :mod:`adapters.wechat.menu`
can turn a typed "2" back into the second choice.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import Reply


@dataclass(frozen=True, slots=True)
class Choice:
    """One numbered entry: a button (``payload`` set) or a quick reply (sent back as text)."""

    title: str
    payload: str | None = None


def choices(reply: Reply) -> list[Choice]:
    """The reply's choices in menu order."""
    buttons = list(reply.buttons) + (list(reply.card.buttons) if reply.card else [])
    return [Choice(b.title, b.payload) for b in buttons] + [Choice(q) for q in reply.quick_replies]


def to_text(reply: Reply) -> str:
    """The reply as WeChat text: the text, the card as lines, then the numbered menu."""
    lines = [reply.text]
    if reply.card is not None:
        lines.append(f"【{reply.card.title}】{reply.card.text}".strip())
        lines.extend(f"{k}: {v}" for k, v in reply.card.fields)
    lines.extend(f"{i}. {c.title}" for i, c in enumerate(choices(reply), 1))
    return "\n".join(line for line in lines if line)
