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


def invoice_title(value: str) -> str:
    """``个人``/``personal`` or a company name of reasonable length."""
    value = value.strip().strip("“”\"'")
    if value.lower() in {"个人", "personal", "individual"}:
        return "个人"
    if len(value) < 2 or len(value) > 60:
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
