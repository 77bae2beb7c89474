"""Mask personal data before it reaches a log line or a ticket transcript.

One helper, :func:`mask_pii`, used everywhere text is logged. It masks
mainland ID card numbers, bank card numbers, mobile phone numbers and e-mail
addresses, keeping a few characters so a human can still tell values apart.
"""

from __future__ import annotations

import re

# Order matters: the longer digit runs (ID cards, bank cards) go first, so a
# phone-number pattern never eats the middle of a card number.
_ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_BANK_CARD = re.compile(r"(?<!\d)(\d{4})(?:[ -]?\d){8,11}([ -]?\d{4})(?!\d)")
_PHONE = re.compile(r"(?<!\d)(\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*(@[A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_pii(text: str) -> str:
    """Return ``text`` with ID, bank card, phone and e-mail values masked."""
    if not text:
        return text
    text = _ID_CARD.sub(r"\1********\2", text)
    text = _BANK_CARD.sub(lambda m: f"{m.group(1)} **** **** {m.group(2).strip(' -')}", text)
    text = _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(3)}", text)
    return _EMAIL.sub(r"\1***\2", text)
