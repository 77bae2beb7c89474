"""The sensitive-word filter: an Aho-Corasick automaton over a configurable list.

A message that contains a listed word gets a polite reply and never reaches
the intent model. The list lives in ``<config dir>/sensitive_words.txt``, one
word per line, ``#`` for comments; matching is on folded text (full-width and
case-insensitive).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import ahocorasick

from nlu.normalize import fold


class SensitiveFilter:
    """Finds listed words in a message in one pass, however long the list."""

    def __init__(self, words: Iterable[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        count = 0
        for word in {fold(w.strip()) for w in words if w.strip()}:
            self._automaton.add_word(word, word)
            count += 1
        self.size = count
        if count:
            self._automaton.make_automaton()

    @classmethod
    def from_file(cls, path: Path) -> SensitiveFilter:
        """Load a word list; a missing file means an empty filter."""
        if not path.exists():
            return cls([])
        lines = path.read_text(encoding="utf-8").splitlines()
        return cls(line for line in lines if line.strip() and not line.lstrip().startswith("#"))

    def matches(self, text: str) -> list[str]:
        """The listed words found in ``text`` (empty when clean)."""
        if not self.size:
            return []
        return sorted({word for _, word in self._automaton.iter(fold(text))})
