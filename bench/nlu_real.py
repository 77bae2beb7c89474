"""Intent accuracy on real customer messages: the bundled model vs a TF-IDF + LR baseline.

Trains both on the bundled ``config/nlu`` (or loads ``--model``) and scores
them on a labelled CSV of real messages (``text,intent,lang``), by default
``../shared/data/real_cs_dev/dev.csv``. That set is for measuring only: it is
never trained on, and nothing trained here is saved. Prints overall,
in-scope, out-of-scope false-accept, per-language and per-intent figures, and
the same without rows that occur in ``config/nlu`` (punctuation, case and
spaces ignored).

    .venv/bin/python bench/nlu_real.py [--data FILE] [--model DIR] [--no-pretrained]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.nlu_accuracy import baseline
from bot.settings import load_settings
from nlu.evaluate import percentile_ms, score, timed_single_parses
from nlu.loader import bot_training_data, bot_validation_data
from nlu.model import IntentModel, TrainSettings
from nlu.train import predict, train
from nlu.types import OUT_OF_SCOPE

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real_cs_dev" / "dev.csv"
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def read_rows(path: Path, labels: set[str]) -> list[dict[str, str]]:
    """The CSV's rows; unknown labels are an error, not a silent zero."""
    if not path.exists():
        raise SystemExit(f"{path}: no such file")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"text", "intent"} <= set(rows[0]):
        raise SystemExit(f"{path}: expected a CSV with text,intent[,lang] columns")
    unknown = sorted({r["intent"] for r in rows} - labels - {OUT_OF_SCOPE})
    if unknown:
        raise SystemExit(f"{path}: labels the bot does not have: {', '.join(unknown)}")
    return rows


def key(text: str) -> str:
    """Text with case, spaces and punctuation ignored."""
    return _PUNCT.sub("", text.lower())


def figures(gold: list[str], pred: list[str]) -> dict[str, float | None]:
    """Accuracy, in-scope accuracy and out-of-scope false accepts (percent)."""
    scores = score(gold, pred)

    def pct(value: float | None) -> float | None:
        return None if value is None else round(100 * value, 1)

    false_accept = None if scores.oos_recall is None else 1 - scores.oos_recall
    return {
        "n": scores.n,
        "acc": pct(scores.accuracy),
        "in_scope": pct(scores.in_scope_accuracy),
        "oos_fa": pct(false_accept),
    }


def recall(gold: list[str], pred: list[str]) -> dict[str, float]:
    """Recall per gold intent (percent)."""
    per = score(gold, pred).per_intent
    return {name: round(100 * per[name]["recall"], 1) for name in sorted(set(gold))}


def evaluate(
    rows: list[dict[str, str]], preds: dict[str, list[str]], seen: set[str]
) -> dict[str, Any]:
    """Every figure of the report, for each system."""
    gold = [r["intent"] for r in rows]
    subsets = {
        "all": [True] * len(rows),
        "zh": [r.get("lang", "") == "zh" for r in rows],
        "en": [r.get("lang", "") == "en" for r in rows],
        "not in config/nlu": [key(r["text"]) not in seen for r in rows],
    }
    out: dict[str, Any] = {"subsets": {}, "recall": {}}
    for system, pred in preds.items():
        out["recall"][system] = recall(gold, pred)
        for name, mask in subsets.items():
            g = [x for x, m in zip(gold, mask, strict=True) if m]
            q = [x for x, m in zip(pred, mask, strict=True) if m]
            out["subsets"].setdefault(name, {})[system] = figures(g, q) if g else None
    out["confusions"] = {system: confusions(gold, pred) for system, pred in preds.items()}
    return out


def confusions(gold: list[str], pred: list[str], top: int = 12) -> list[tuple[str, str, int]]:
    """The commonest gold -> predicted mistakes: where training data is thin."""
    counts = Counter((g, p) for g, p in zip(gold, pred, strict=True) if g != p)
    return [(g, p, n) for (g, p), n in counts.most_common(top)]


def print_report(report: dict[str, Any], systems: list[str]) -> None:
    """The tables, one line per subset and per intent."""
    print(f"\n{'rows':<20}" + "".join(f"{s:>34}" for s in systems))
    print(f"{'':<20}" + "".join(f"{'n  acc  in-scope  oos-FA':>34}" for _ in systems))
    for name, per in report["subsets"].items():
        cells = []
        for s in systems:
            f = {k: ("-" if v is None else v) for k, v in per[s].items()}
            cells.append(f"{f['n']:>4} {f['acc']:>6} {f['in_scope']:>8} {f['oos_fa']:>7}")
        print(f"{name:<20}" + "".join(f"{c:>34}" for c in cells))
    print(f"\n{'recall per intent':<20}" + "".join(f"{s:>16}" for s in systems))
    for intent in report["recall"][systems[0]]:
        print(f"{intent:<20}" + "".join(f"{report['recall'][s][intent]:>16}" for s in systems))
    for s in systems:
        mistakes = ", ".join(f"{g}->{p} {n}" for g, p, n in report["confusions"][s])
        print(f"\ncommonest mistakes, {s}: {mistakes}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--model", type=Path, help="a trained model dir (default: train one)")
    parser.add_argument("--no-pretrained", action="store_true", help="n-grams only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = load_settings()
    training = bot_training_data(settings)
    rows = read_rows(args.data, set(training.intents))
    texts = [r["text"] for r in rows]
    started = time.monotonic()
    if args.model:
        model = IntentModel.load(args.model)
    else:
        pretrained = None if args.no_pretrained else TrainSettings().pretrained
        validation = bot_validation_data(settings)
        model = train(
            training, TrainSettings(pretrained=pretrained), validation=validation, progress=False
        )
    trained_s = time.monotonic() - started
    preds = {
        "this project": predict(model, texts),
        "TF-IDF+LR": baseline(training, texts, oos=True),
    }
    seen = {key(e.text) for e in training.examples}
    report = evaluate(rows, preds, seen)
    latency = timed_single_parses(model.predict_proba, texts, limit=400)
    report["model"] = {
        "weights": model.weights,
        "threshold": model.threshold,
        "train_s": round(trained_s, 1),
        "parse_p50_ms": round(percentile_ms(latency, 50), 2),
        "parse_p99_ms": round(percentile_ms(latency, 99), 2),
        "training_examples": len(training.examples),
    }
    print(f"data: {args.data} ({len(rows)} rows); model: {json.dumps(report['model'])}")
    print_report(report, list(preds))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
