"""WeChat has no buttons in passive text replies: choices become a numbered menu."""

from __future__ import annotations

from adapters.console import render_text
from bot.models import Reply


def to_text(reply: Reply) -> str:
    """The reply as WeChat text (a numbered menu for buttons, a text block for cards)."""
    return render_text(reply)
