"""Training with validation: what ``bot train`` and ``bot eval --train`` run.

1. split off a stratified validation set;
2. fit on the rest and pick the n-gram/encoder mix and the out-of-scope
   threshold that score best on validation;
3. refit on everything with those choices and record the validation metrics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from nlu.data import Dataset
from nlu.evaluate import Scores, score
from nlu.model import IntentModel, TrainSettings, fit, metadata_for, split
from nlu.types import OUT_OF_SCOPE

WEIGHTS = (0.0, 0.25, 0.5)
THRESHOLDS = (0.0, 0.2, 0.3, 0.4, 0.5)


def choose(
    model: IntentModel, texts: Sequence[str], gold: Sequence[str]
) -> tuple[float, float, Scores]:
    """The (neural weight, threshold) pair that scores best on validation."""
    ngram = model.ngram.predict_proba(list(texts))
    neural = model.encoder.predict_proba(list(texts)) if model.encoder is not None else ngram
    best: tuple[float, float, float, Scores] | None = None
    has_oos = OUT_OF_SCOPE in gold
    for weight in WEIGHTS if model.encoder is not None else (0.0,):
        probs = (1 - weight) * ngram + weight * neural
        for threshold in THRESHOLDS:
            model.threshold = threshold
            result = score(gold, model.decide(probs))
            # with out-of-scope data, balance in-scope accuracy against OOS recall
            value = (
                ((result.in_scope_accuracy or 0) + (result.oos_recall or 0)) / 2
                if has_oos
                else result.accuracy
            )
            if best is None or value > best[2] + 1e-9:
                best = (weight, threshold, value, result)
    assert best is not None
    return best[0], best[1], best[3]


def train(data: Dataset, settings: TrainSettings, *, progress: bool = True) -> IntentModel:
    """Fit, validate, choose, refit on all data; the model carries its metadata."""
    train_part, val_part = split(data, settings.validation_fraction, settings.seed)
    probe = fit(train_part, settings, progress=progress)
    texts = [e.text for e in val_part.examples]
    gold = [e.intent for e in val_part.examples]
    weight, threshold, val_scores = choose(probe, texts, gold)
    final = dataclasses.replace(
        settings,
        threshold=threshold,
        neural_weight=weight if weight > 0 else settings.neural_weight,
    )
    model = fit(data, final, progress=progress)
    model.neural_weight, model.threshold = weight, threshold
    metrics = {
        "accuracy": val_scores.accuracy,
        "macro_f1": val_scores.macro_f1,
        "in_scope_accuracy": val_scores.in_scope_accuracy,
        "oos_recall": val_scores.oos_recall,
        "n": val_scores.n,
        "chosen_neural_weight": weight,
        "chosen_threshold": threshold,
    }
    model.metadata = metadata_for(data, final, metrics)
    return model


def predict(model: IntentModel, texts: Sequence[str], batch: int = 256) -> list[str]:
    """Decided intents for many texts, in batches."""
    out: list[str] = []
    for start in range(0, len(texts), batch):
        out += model.decide(model.predict_proba(list(texts[start : start + batch])))
    return out


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (0 for none)."""
    return float(np.mean(values)) if values else 0.0
