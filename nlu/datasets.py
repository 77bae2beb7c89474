"""Readers for public intent datasets, in their own formats, for ``bot eval`` and the benchmark.

===========  ==============================================================
format       files
===========  ==============================================================
csv          ``text,intent`` or Banking77's ``text,category``
rasa         Rasa NLU JSON (``rasa_nlu_data.common_examples``)
clinc        CLINC150 ``data_full.json``; ``oos`` becomes ``out_of_scope``
smp          SMP2019/2020 ECDT JSON lists (``text``, ``intent``), SMP2017's
             ``Sentence<TAB>Tag`` file, or CAIS (``ch.<split>`` + ``.intent``)
===========  ==============================================================
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bot.errors import ConfigError
from nlu.data import Dataset, Example, csv_rows, validate
from nlu.types import OUT_OF_SCOPE

FORMATS = ("csv", "rasa", "clinc", "smp")


def read(path: Path, fmt: str, *, split: str = "test") -> Dataset:
    """The examples of ``path`` (and ``split`` where the file holds several)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    try:
        pairs = {"csv": _csv, "rasa": _rasa, "clinc": _clinc, "smp": _smp}[fmt](path, split)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a {fmt} file ({type(exc).__name__}: {exc})") from None
    data = Dataset([Example(t.strip(), i.strip()) for t, i in pairs if t.strip()], [str(path)])
    return validate(data, min_per_intent=1)


def _csv(path: Path, split: str) -> list[tuple[str, str]]:
    rows = csv_rows(path, needs=("text", "intent|category"))
    label = "intent" if rows and "intent" in rows[0] else "category"
    return [(r["text"], r[label]) for r in rows]


def _rasa(path: Path, split: str) -> list[tuple[str, str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [(e["text"], e["intent"]) for e in doc["rasa_nlu_data"]["common_examples"]]


def _clinc(path: Path, split: str) -> list[tuple[str, str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    name = {"dev": "val", "valid": "val"}.get(split, split)
    rows = doc[name] + doc.get(f"oos_{name}", [])
    return [(text, OUT_OF_SCOPE if label == "oos" else label) for text, label in rows]


def _smp(path: Path, split: str) -> list[tuple[str, str]]:
    if path.suffix == ".json":
        return [
            (row["text"], row["intent"]) for row in json.loads(path.read_text(encoding="utf-8"))
        ]
    intents = path.with_name(path.name + ".intent")
    if intents.exists():  # CAIS: one character per line, blank line between sentences
        sentences = path.read_text(encoding="utf-8").split("\n\n")
        texts = [
            "".join(line.split(" ")[0] for line in s.splitlines() if line.strip())
            for s in sentences
        ]
        labels = intents.read_text(encoding="utf-8").splitlines()
        return list(zip([t for t in texts if t], labels, strict=False))
    with path.open(encoding="utf-8", newline="") as fh:  # SMP2017: Sentence<TAB>Tag
        return [(r["Sentence"], r["Tag"]) for r in csv.DictReader(fh, delimiter="\t")]
