"""Metrics for an intent model on labelled examples."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nlu.types import OUT_OF_SCOPE


@dataclass
class Scores:
    """Accuracy, macro-F1, per-intent P/R/F1, out-of-scope figures and latency."""

    accuracy: float
    macro_f1: float
    per_intent: dict[str, dict[str, float]] = field(default_factory=dict)
    in_scope_accuracy: float | None = None
    oos_recall: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p99: float | None = None
    n: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {k: v for k, v in self.__dict__.items()}


def score(gold: Sequence[str], pred: Sequence[str]) -> Scores:
    """Compare predictions with gold labels."""
    gold_a, pred_a = np.array(gold), np.array(pred)
    labels = sorted(set(gold) | set(pred))
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = float(np.sum((pred_a == label) & (gold_a == label)))
        p = tp / max(1, int(np.sum(pred_a == label)))
        r = tp / max(1, int(np.sum(gold_a == label)))
        per[label] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": float(np.sum(gold_a == label)),
        }
    present = [label for label in labels if per[label]["support"] > 0]
    scores = Scores(
        accuracy=float(np.mean(gold_a == pred_a)),
        macro_f1=float(np.mean([per[label]["f1"] for label in present])),
        per_intent=per,
        n=len(gold),
    )
    in_scope = gold_a != OUT_OF_SCOPE
    if (~in_scope).any():
        scores.oos_recall = float(np.mean(pred_a[~in_scope] == OUT_OF_SCOPE))
        scores.in_scope_accuracy = float(np.mean(pred_a[in_scope] == gold_a[in_scope]))
    return scores


def percentile_ms(samples: Sequence[float], q: float) -> float:
    """The ``q`` percentile of seconds, in milliseconds."""
    return float(np.percentile(np.array(samples) * 1000, q)) if samples else 0.0


def timed_single_parses(predict: Any, texts: Sequence[str], limit: int = 200) -> list[float]:
    """Seconds per single-text prediction, for the latency figures."""
    out = []
    for text in list(texts)[:limit]:
        started = time.perf_counter()
        predict([text])
        out.append(time.perf_counter() - started)
    return out
