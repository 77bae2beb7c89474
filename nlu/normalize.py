"""Text normalisation that keeps character positions.

:func:`fold` maps full-width forms to half-width and English to lower case one
character for one character, so entity spans found on the folded text are
exact spans of the original. :func:`for_classifier` additionally drops emoji
(kept in the text, ignored by the classifier) and collapses whitespace.
"""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")


def _fold_char(ch: str) -> str:
    code = ord(ch)
    if 0xFF01 <= code <= 0xFF5E:  # full-width ASCII block
        ch = chr(code - 0xFEE0)
    elif code == 0x3000:  # ideographic space
        ch = " "
    return ch.lower() if ch.isascii() else ch


def fold(text: str) -> str:
    """Full-width to half-width and ASCII lower case; same length as ``text``."""
    return "".join(_fold_char(ch) for ch in text)


def is_emoji(ch: str) -> bool:
    """Whether ``ch`` is an emoji or pictographic symbol (category So, or the emoji planes)."""
    code = ord(ch)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2600 <= code <= 0x27BF
        or (unicodedata.category(ch) == "So" and code > 0x2000)
    )


def for_classifier(text: str) -> str:
    """What the intent model sees: folded, emoji removed, whitespace collapsed."""
    kept = "".join(" " if is_emoji(ch) else ch for ch in fold(text))
    return _WS.sub(" ", kept).strip()


def normalize(text: str) -> str:
    """The normalised text reported in a parse: folded, whitespace collapsed, emoji kept."""
    return _WS.sub(" ", fold(text)).strip()
