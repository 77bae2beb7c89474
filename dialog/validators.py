"""Slot validation hooks referenced by name from flows (``validate: {hook: module:function}``).

A hook takes the raw value and returns the cleaned value, or raises
``ValueError`` with a reason; the engine then re-asks.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

Hook = Callable[[str], str]


def address(value: str) -> str:
    """A plausible postal address: long enough, and not just a yes/no."""
    value = value.strip()
    if len(value) < 6 or value.lower() in {"是", "是的", "好的", "yes", "ok"}:
        raise ValueError("too short to be an address")
    return value


# A title is a name. A question or a request typed at the prompt ("帮我订一张明天去上海的
# 机票", "can I pay by card?") is the customer talking about something else, and once
# became the title of an invoice the bot then asked to confirm.
_NOT_A_NAME = re.compile(
    r"[?？]|帮我|我要|我想|请问|怎么|什么|能不能|可不可以|[吗呢][。!！~～]*$|没事|算了|不用"
    r"|^(?:can|could|would|will|please|pls|i|i'm|im|what|how|where|why|when|is|are|do|does"
    r"|book|help|tell|show|never ?mind|no)\b",
    re.IGNORECASE,
)


def invoice_title(value: str) -> str:
    """``个人``/``personal`` or a name of reasonable length, not a question or a request."""
    value = value.strip().strip("“”\"'")
    if value.lower() in {"个人", "personal", "individual"}:
        return "个人"
    if len(value) < 2 or len(value) > 60 or _NOT_A_NAME.search(value):
        raise ValueError("not a valid invoice title")
    return value


def regex_check(pattern: str) -> Hook:
    """A hook that accepts values fully matching ``pattern`` (case-insensitive)."""
    compiled = re.compile(pattern, re.IGNORECASE)

    def check(value: str) -> str:
        if not compiled.fullmatch(value.strip()):
            raise ValueError(f"does not match {pattern}")
        return value.strip().upper() if value.strip().isalnum() else value.strip()

    return check


def resolve_hook(reference: str) -> Hook:
    """``module:function`` to the function; ValueError when it does not exist."""
    module_name, _, name = reference.partition(":")
    try:
        hook = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"validation hook {reference!r} not found: {exc}") from None
    if not callable(hook):
        raise ValueError(f"validation hook {reference!r} is not callable")
    return hook
