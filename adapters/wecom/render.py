"""Replies as kf text: the text, a card as lines, and the choices listed for the customer to type.

The kf API's text message has no buttons (its ``msgmenu`` type has, not used
yet), so buttons and quick replies are listed by title; the customer answers
by typing one, which the NLU reads like any other text.
"""

from __future__ import annotations

from bot.models import Reply


def to_text(reply: Reply) -> str:
    """The reply as one kf text message."""
    lines = [reply.text]
    if reply.card is not None:
        lines.append(f"【{reply.card.title}】{reply.card.text}".strip())
        lines.extend(f"{k}: {v}" for k, v in reply.card.fields)
    buttons = list(reply.buttons) + (list(reply.card.buttons) if reply.card else [])
    lines.extend(f"· {title}" for title in [b.title for b in buttons] + list(reply.quick_replies))
    return "\n".join(line for line in lines if line)
