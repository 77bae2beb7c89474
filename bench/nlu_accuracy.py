"""Intent accuracy on public benchmarks: this project's model vs a TF-IDF + LR baseline.

Trains and tests, in one run, on Banking77, CLINC150 (data_full, with
out-of-scope), SMP2019 and SMP2020 intent, CAIS, and SMP2017 (5-fold CV),
reading ``../shared/data`` (or ``--data``). Prints one table with the
published reference numbers. The Chinese sets are benchmark-only: nothing
trained here is saved.

    .venv/bin/python bench/nlu_accuracy.py [--data ../shared/data] [--only banking77,cais]
        [--no-pretrained] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nlu.data import Dataset
from nlu.datasets import read
from nlu.evaluate import percentile_ms, score, timed_single_parses
from nlu.model import TrainSettings
from nlu.normalize import for_classifier
from nlu.train import predict, train
from nlu.types import OUT_OF_SCOPE

PUBLISHED = {
    "banking77": "93.66 (BERT-large)",
    "clinc150": "96.2 in / 52.3 oos (BERT)",
    "smp2019": "94.44",
    "smp2020": "96.34",
    "cais": "94.66",
    "smp2017": "-",
}


def sets(root: Path) -> dict[str, tuple[Dataset, Dataset | None]]:
    """(train, test) per benchmark; test None means 5-fold CV on train."""
    return {
        "banking77": (
            read(root / "banking77/train.csv", "csv"),
            read(root / "banking77/test.csv", "csv"),
        ),
        "clinc150": (
            read(root / "clinc150/data_full.json", "clinc", split="train"),
            read(root / "clinc150/data_full.json", "clinc", split="test"),
        ),
        "smp2019": (
            read(root / "smp2019_ecdt/train.json", "smp"),
            read(root / "smp2019_ecdt/test.json", "smp"),
        ),
        "smp2020": (
            read(root / "smp2020_ecdt/train.json", "smp"),
            read(root / "smp2020_ecdt/test.json", "smp"),
        ),
        "cais": (read(root / "cais/ch.train", "smp"), read(root / "cais/ch.test", "smp")),
        "smp2017": (read(root / "smp2017_ecdt_task1/Chinese_data.csv", "smp"), None),
    }


def baseline(train_set: Dataset, texts: list[str], oos: bool) -> list[str]:
    """TF-IDF char 1-3 grams + logistic regression, threshold 0.3 for out-of-scope sets."""
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    x = vec.fit_transform([for_classifier(e.text) for e in train_set.examples])
    lr = LogisticRegression(C=10, max_iter=2000).fit(x, [e.intent for e in train_set.examples])
    probs = lr.predict_proba(vec.transform([for_classifier(t) for t in texts]))
    labels = [lr.classes_[i] for i in probs.argmax(1)]
    if oos:
        labels = [
            OUT_OF_SCOPE if p.max() < 0.3 else label for p, label in zip(probs, labels, strict=True)
        ]
    return labels


def folds(data: Dataset, k: int = 5) -> list[tuple[Dataset, Dataset]]:
    order = np.random.default_rng(13).permutation(len(data.examples))
    out = []
    for f in range(k):
        test_idx = set(order[f::k].tolist())
        out.append(
            (
                Dataset([e for i, e in enumerate(data.examples) if i not in test_idx]),
                Dataset([e for i, e in enumerate(data.examples) if i in test_idx]),
            )
        )
    return out


def run(
    name: str, train_set: Dataset, test_set: Dataset | None, settings: TrainSettings
) -> dict[str, object]:
    pairs = [(train_set, test_set)] if test_set is not None else folds(train_set)
    gold, ours, base, latencies = [], [], [], []
    started = time.monotonic()
    for tr, te in pairs:
        texts = [e.text for e in te.examples]
        model = train(tr, settings, progress=False)
        gold += [e.intent for e in te.examples]
        ours += predict(model, texts)
        base += baseline(tr, texts, OUT_OF_SCOPE in tr.intents)
        latencies += timed_single_parses(model.predict_proba, texts, limit=100)
    s_ours, s_base = score(gold, ours), score(gold, base)
    return {
        "dataset": name,
        "ours": _fmt(s_ours),
        "baseline": _fmt(s_base),
        "published": PUBLISHED[name],
        "p50_ms": round(percentile_ms(latencies, 50), 2),
        "minutes": round((time.monotonic() - started) / 60, 1),
        "mix": round(1 - model.weights.get("ngram", 1.0), 2),
    }


def _fmt(s: object) -> str:
    acc = s.accuracy
    if s.oos_recall is not None:
        return f"{100 * s.in_scope_accuracy:.1f} in / {100 * s.oos_recall:.1f} oos"
    return f"{100 * acc:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data"
    )
    parser.add_argument("--only", default="")
    parser.add_argument("--no-pretrained", action="store_true", help="n-grams only")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    settings = TrainSettings(pretrained=None) if args.no_pretrained else TrainSettings()
    chosen = [n for n in args.only.split(",") if n]
    rows = []
    print(
        f"{'dataset':<10} {'this project':>22} {'TF-IDF+LR':>22} {'published':>26} {'p50 ms':>7} "
        f"{'mix':>5} {'min':>5}",
        flush=True,
    )
    for name, (tr, te) in sets(args.data).items():
        if chosen and name not in chosen:
            continue
        row = run(name, tr, te, settings)
        rows.append(row)
        print(
            f"{name:<10} {row['ours']:>22} {row['baseline']:>22} {row['published']:>26} "
            f"{row['p50_ms']:>7} {row['mix']:>5} {row['minutes']:>5}",
            flush=True,
        )
    print(
        "mix = weight of the pretrained sentence vectors, chosen on validation; "
        "accuracy in %; SMP2017 by 5-fold CV; one run, 2 CPU cores"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
