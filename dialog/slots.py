"""Filling and validating slots from a parsed message."""

from __future__ import annotations

import logging
import re
from typing import Any

from dialog.config import SlotSpec
from dialog.validators import regex_check, resolve_hook
from nlu.types import ParseResult

log = logging.getLogger(__name__)

# "不对，订单号是 …", "错了 应该是 …", "no wait, order …": the user corrects a value.
CORRECTION = re.compile(
    r"不对|错了|写错|搞错|说错|打错|弄错|不是这个|应该是|改成|改为|换成|更正|等等|等一下"
    r"|actually|i meant|i mean|correction|wrong|no wait|\bwait\b|oops|not that one|make it"
)


class InvalidSlot(ValueError):
    """A value the slot's validation refused."""


def validate(spec: SlotSpec, value: Any) -> Any:
    """The cleaned value, or :class:`InvalidSlot`; a hook that crashes counts as a refusal."""
    rule = spec.validate_
    if rule is None or not isinstance(value, str):
        return value
    try:
        if rule.regex:
            value = regex_check(rule.regex)(value)
        if rule.choices and value not in rule.choices:
            raise ValueError(f"not one of {rule.choices}")
        if rule.hook:
            value = resolve_hook(rule.hook)(value)
    except ValueError as exc:
        raise InvalidSlot(str(exc)) from None
    except Exception:
        log.exception("slot validation hook crashed", extra={"hook": rule.hook})
        raise InvalidSlot("validation failed") from None
    return value


def from_entities(spec: SlotSpec, parse: ParseResult) -> Any:
    """The slot's value from an extracted entity of its type, if any."""
    if spec.entity is None:
        return None
    entity = parse.entity(spec.entity)
    if entity is None:
        return None
    return entity.normalized if spec.entity in ("date", "phone") else entity.value


def free_text(spec: SlotSpec, parse: ParseResult) -> str | None:
    """The whole message as the value, for free-text slots (address, reason, title)."""
    text = parse.text.strip()
    return text if spec.free_text and text else None


def recognised(spec: SlotSpec, text: str) -> bool:
    """Whether the slot's validation rewrites ``text`` to a canonical value (personal -> 个人).

    Such a word is the answer to the slot's question, whatever else it could mean
    ("personal" reads to the intent model as a call for a person).
    """
    value = text.strip()
    try:
        return bool(value) and validate(spec, value) != value
    except InvalidSlot:
        return False


def is_correction(text: str) -> bool:
    """Whether the user says a value given earlier was wrong."""
    return bool(CORRECTION.search(text.lower()))
