"""Learning from traffic: the messages the bot missed, counted per text, as a CSV for labelling.

A miss is what ``bot report`` counts as one (:func:`bot.records.report.is_miss`),
read from the durable record after the dialog has said whether the message
fell back or answered a question: the parse alone cannot tell an order number
given when asked from a message nobody understood. Texts are PII-masked and
normalised, so the export is safe to hand to labellers.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bot.pii import mask_pii
from bot.records import Record
from bot.records.report import OUT_OF_SCOPE, is_miss
from nlu.normalize import normalize

MAX_CHARS = 500
HEADER = ("text", "count", "guess", "intent")


def miss_text(record: Record) -> str:
    """The text a miss is counted under: normalised, then masked again.

    The record's text is masked already; folding full-width digits can uncover
    a number the first masking could not see, so the mask runs once more.
    """
    return mask_pii(normalize(record.text))[:MAX_CHARS]


def guess_of(record: Record) -> str:
    """The model's best intent for the message, a hint for the labeller."""
    guess = str(record.data.get("guess") or "")
    return guess or ("" if record.intent == OUT_OF_SCOPE else record.intent)


def write_misses(records: Iterable[Record], path: Path) -> int:
    """Write ``text,count,guess,intent`` rows (``intent`` left for labellers); returns rows."""
    counts: Counter[str] = Counter()
    guesses: dict[str, str] = {}
    for record in filter(is_miss, records):
        text = miss_text(record)
        if text:
            counts[text] += 1
            guesses[text] = guess_of(record) or guesses.get(text, "")
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for text, total in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            writer.writerow([text, total, guesses[text], ""])
    return len(counts)
