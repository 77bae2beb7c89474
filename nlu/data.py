"""Training data: YAML (the bundled format), CSV ``text,intent`` or JSONL.

YAML files look like::

    version: 1
    lang: zh-CN
    intents:
      order_status:
        - 我的订单[20231122001](order_id)到哪了

Inline ``[value](type)`` annotations become entity examples with exact spans
in the plain text. Bad data raises :class:`~bot.errors.ConfigError` with a
message saying what is wrong and where.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.errors import ConfigError

_ANNOTATION = re.compile(r"\[([^\]]+)\]\(([a-z_]+)\)")
SUFFIXES = (".yml", ".yaml", ".csv", ".jsonl")


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled utterance, with annotated entity spans into ``text``."""

    text: str
    intent: str
    entities: tuple[tuple[str, int, int], ...] = ()


@dataclass
class Dataset:
    """Examples plus where they came from."""

    examples: list[Example] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def intents(self) -> list[str]:
        """Sorted intent names."""
        return sorted({e.intent for e in self.examples})

    def counts(self) -> Counter[str]:
        """Examples per intent."""
        return Counter(e.intent for e in self.examples)

    def digest(self) -> str:
        """A hash of the examples, recorded in the model's metadata."""
        h = hashlib.sha256()
        for e in sorted(self.examples, key=lambda e: (e.intent, e.text)):
            h.update(f"{e.intent}\t{e.text}\n".encode())
        return h.hexdigest()[:16]


def strip_annotations(raw: str) -> tuple[str, tuple[tuple[str, int, int], ...]]:
    """``我的订单[123](order_id)`` -> (``我的订单123``, (("order_id", 4, 7),))."""
    out, spans, pos = [], [], 0
    for m in _ANNOTATION.finditer(raw):
        out.append(raw[pos : m.start()])
        start = sum(len(p) for p in out)
        out.append(m.group(1))
        spans.append((m.group(2), start, start + len(m.group(1))))
        pos = m.end()
    out.append(raw[pos:])
    return "".join(out), tuple(spans)


def _from_yaml(path: Path) -> list[Example]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("intents"), dict):
        raise ConfigError(f"{path}: expected a mapping with an 'intents' mapping")
    examples = []
    for intent, lines in doc["intents"].items():
        if not isinstance(lines, list):
            raise ConfigError(f"{path}: intent {intent!r} must list its examples")
        for raw in lines:
            text, spans = strip_annotations(str(raw))
            examples.append(Example(text, str(intent), spans))
    return examples


def _from_csv(path: Path) -> list[Example]:
    rows = csv_rows(path, needs=("text", "intent"))
    return [Example(*strip_annotations(row["text"])[:1], row["intent"]) for row in rows]


def csv_rows(path: Path, *, needs: tuple[str, ...]) -> list[dict[str, str]]:
    """A CSV file's rows by header name; a row with a stray comma or quote is refused.

    ``needs`` are the columns that must be in the header (one of them when
    separated by ``|``, as in ``intent|category``).
    """
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            _require_columns(path, header, needs)
            rows = []
            for row in reader:
                if row and len(row) != len(header):
                    raise ConfigError(
                        f"{path}:{reader.line_num}: {len(row)} columns where the header has "
                        f"{len(header)} ({','.join(header)}); quote a text that holds a comma"
                    )
                if row:
                    rows.append(dict(zip(header, row, strict=True)))
            return rows
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable CSV file ({exc})") from None


def _require_columns(path: Path, header: list[str], needs: tuple[str, ...]) -> None:
    missing = [n for n in needs if not set(n.split("|")) & set(header)]
    if missing:
        wanted = ", ".join(repr(n.replace("|", "' or '")) for n in needs)
        raise ConfigError(f"{path}: CSV needs a header with {wanted} columns")


def _from_jsonl(path: Path) -> list[Example]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text, spans = strip_annotations(str(row["text"]))
            examples.append(Example(text, str(row["intent"]), spans))
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{path}:{number}: expected JSON with 'text' and 'intent'") from None
    return examples


_READERS = {".yml": _from_yaml, ".yaml": _from_yaml, ".csv": _from_csv, ".jsonl": _from_jsonl}


def load_files(paths: Iterable[Path]) -> Dataset:
    """Read every file; a directory means every supported file in it."""
    data = Dataset()
    for path in paths:
        files = (
            sorted(p for p in path.iterdir() if p.suffix in SUFFIXES) if path.is_dir() else [path]
        )
        for file in files:
            reader = _READERS.get(file.suffix)
            if reader is None:
                raise ConfigError(f"{file}: unknown format (use {', '.join(SUFFIXES)})")
            if not file.exists():
                raise ConfigError(f"{file}: no such file")
            data.examples.extend(reader(file))
            data.sources.append(str(file))
    return validate(data)


def validate(data: Dataset, *, min_per_intent: int = 2) -> Dataset:
    """Refuse data a classifier cannot learn from, saying why."""
    data.examples = [e for e in data.examples if e.text.strip() or not e.intent]
    if not data.examples:
        raise ConfigError(f"no training examples in {', '.join(data.sources) or 'the given paths'}")
    if any(not e.intent for e in data.examples):
        raise ConfigError("an example has no intent label")
    counts = data.counts()
    if len(counts) < 2:
        raise ConfigError(f"need at least two intents to classify, found {sorted(counts)}")
    thin = sorted(i for i, n in counts.items() if n < min_per_intent)
    if thin:
        raise ConfigError(f"intents with fewer than {min_per_intent} examples: {', '.join(thin)}")
    return data
