"""Training with validation: what ``bot train`` and ``bot eval --train`` run.

1. normalise every text to its request (``nlu/openers.py``) and, once, embed
   it with the frozen pretrained encoder, batched in torch (the slow step: ~7 ms a
   text on two cores);
2. with a validation set of its own (the bundled bot's is
   ``config/nlu/validation/``, written apart from the training data in
   customers' words): fit every part on all the training data, then pick the
   mixing weights, the out-of-scope threshold and the cascade gate that score
   best on it. out_of_scope is also a trained class of its own;
3. without one: split a stratified validation set off the training data, choose
   on it, then refit on everything. A split of the same hand-written data
   flatters the n-grams, so a separate validation set chooses better.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from bot.errors import ConfigError
from nlu.data import Dataset
from nlu.embedhead import EmbeddingClassifier
from nlu.encoder import EncoderClassifier
from nlu.evaluate import Scores, score
from nlu.model import (
    EMBED,
    ENCODER,
    NGRAM,
    TUNED,
    IntentModel,
    TrainSettings,
    metadata_for,
    mix,
)
from nlu.ngram import NgramClassifier
from nlu.openers import request_text
from nlu.pretrained import load_encoder
from nlu.tuned import TunedClassifier, frozen_vectors

PART_WEIGHTS = (0.0, 0.3, 0.5, 0.7)  # each optional part's share against the n-grams
THRESHOLDS = (0.0, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
OOS_SHARE = 0.2  # out-of-scope messages in real customer-service traffic, about a fifth
GATES = (0.8, 0.9, 0.95, 0.98)  # n-gram confidence from which it answers alone
GATE_COST = 0.002  # validation score the cascade may give up for speed


@dataclass
class Features:
    """The training set in the form every part reads, computed once."""

    labels: list[str]
    texts: list[str]  # request_text of each example
    y: np.ndarray
    vectors: np.ndarray | None  # frozen pretrained sentence vectors
    bottom: list[torch.Tensor] | None = None  # states under the layers fine-tuning trains

    def subset(self, index: np.ndarray) -> Features:
        """The rows in ``index``."""
        vectors = self.vectors[index] if self.vectors is not None else None
        bottom = [self.bottom[i] for i in index] if self.bottom is not None else None
        texts = [self.texts[i] for i in index]
        return Features(self.labels, texts, self.y[index], vectors, bottom)


def featurize(
    data: Dataset,
    settings: TrainSettings,
    *,
    progress: bool = True,
    labels: list[str] | None = None,
    for_tuning: bool = False,
) -> Features:
    """Normalise and (when configured) embed every example (``labels``: the class order);
    ``for_tuning`` keeps what fine-tuning reuses of the embedding pass."""
    labels = labels or data.intents
    index = {name: i for i, name in enumerate(labels)}
    unknown = sorted({e.intent for e in data.examples} - set(index))
    if unknown:
        raise ConfigError(f"validation intents the training data lacks: {', '.join(unknown)}")
    texts = [request_text(e.text) for e in data.examples]
    y = np.array([index[e.intent] for e in data.examples])
    vectors = bottom = None
    if settings.pretrained:
        load_encoder(settings.pretrained)  # a missing or corrupt package stops here, clearly
        keep_bottom = settings.tune if for_tuning else None
        vectors, bottom = frozen_vectors(texts, keep_bottom=keep_bottom, progress=progress)
    return Features(labels, texts, y, vectors, bottom)


def fit(features: Features, settings: TrainSettings, *, progress: bool = True) -> IntentModel:
    """Fit every configured part on ``features``."""
    n = len(features.labels)
    _limit_threads()
    ngram = NgramClassifier.fit(features.texts, features.y, seed=settings.seed)
    embed = None
    if features.vectors is not None and settings.pretrained:
        encoder = load_encoder(settings.pretrained)
        embed = EmbeddingClassifier.fit(
            encoder, features.vectors, features.y, n, seed=settings.seed
        )
    transformer = None
    if settings.encoder.base_model:
        transformer = EncoderClassifier.fit(
            features.texts, features.y, n_labels=n, cfg=settings.encoder, progress=progress
        )
    tuned = None
    if settings.tune is not None:
        tuned = TunedClassifier.fit(
            features.texts,
            features.y,
            n_labels=n,
            cfg=settings.tune,
            progress=progress,
            bottom=features.bottom,
        )
    weights = {
        NGRAM: 1.0,
        EMBED: 1.0 if embed else 0.0,
        TUNED: 1.0 if tuned else 0.0,
        ENCODER: 1.0 if transformer else 0.0,
    }
    return IntentModel(
        labels=features.labels,
        ngram=ngram,
        embed=embed,
        encoder=transformer,
        tuned=tuned,
        weights=weights,
        threshold=settings.threshold,
    )


class Candidate(NamedTuple):
    """One mixing choice with its validation figures."""

    value: float
    weights: dict[str, float]
    threshold: float
    scores: Scores
    right: np.ndarray  # per validation row: decided correctly


def choose(
    model: IntentModel, parts: dict[str, np.ndarray], gold: Sequence[str]
) -> tuple[dict[str, float], float, float, Scores]:
    """The mixing weights, threshold and cascade gate that score best on validation.

    The score is accuracy with out-of-scope rows weighed as ``OOS_SHARE`` of
    traffic, whatever their share of the validation set: a split of CLINC150's
    training data is 0.7% out-of-scope, real shop traffic about a fifth. So a
    threshold that rejects many real requests to catch a few strays loses, and
    one that never rejects anything loses too.
    A mix with a pretrained part replaces the n-grams alone only when it is
    right on clearly more rows than it breaks (McNemar's sign test, about 95%):
    on keyword-heavy sets a gain of two rows in three hundred is noise, and the
    encoder would cost milliseconds for nothing. Of the mixes that pass, those
    within one standard error of the best score are a tie, and the most even one
    is taken (:func:`_most_even_of_the_best`).
    The gate is the lowest n-gram confidence from which the n-grams may answer
    alone while costing at most ``GATE_COST`` of that score.
    """
    optional = [name for name in (EMBED, TUNED, ENCODER) if name in parts]
    shares = [s for s in itertools.product(PART_WEIGHTS, repeat=len(optional)) if sum(s) < 1]
    candidates = [
        _candidate(model, parts, gold, {NGRAM: 1 - sum(s), **dict(zip(optional, s, strict=True))})
        for s in shares
    ]
    alone = max((c for c in candidates if c.weights[NGRAM] == 1), key=lambda c: c.value)
    mixes = [c for c in candidates if c.weights[NGRAM] < 1]
    best = _most_even_of_the_best(mixes, len(gold), alone) if mixes else alone
    ngram, mixed = parts[NGRAM], mix(parts, best.weights)
    gate = 1.0
    if best.weights[NGRAM] < 1:
        for candidate in GATES:
            confident = ngram.max(axis=1, keepdims=True) >= candidate
            cascaded = np.where(confident, ngram, mixed)
            if _value(model, cascaded, best.threshold, gold)[0] >= best.value - GATE_COST:
                gate = candidate
                break
    return best.weights, best.threshold, gate, best.scores


def _most_even_of_the_best(mixes: list[Candidate], n: int, alone: Candidate) -> Candidate:
    """Among the mixes within one standard error of the best that beat the n-grams
    ``alone`` clearly, the most even one; ``alone`` if none does.

    The one-standard-error rule: on a few hundred rows, mixes a point apart are
    a tie, and the top of the grid moves from run to run (a seed, a few lines of
    data). The most even mix of the tied ones is the steadier choice: an average
    of parts that err differently is what mixing is for, and on the bundled
    validation set (written by the hand that wrote the training data) the n-grams'
    memory of that hand makes them look better than they are on real messages.
    """
    top = max(c.value for c in mixes)
    standard_error = math.sqrt(top * (1 - top) / max(n, 1))
    tied = [c for c in mixes if c.value >= top - standard_error]
    winners = [c for c in tied if _clearly_better(c.right, alone.right)]
    return max(winners, key=lambda c: (_evenness(c.weights), c.value), default=alone)


def _evenness(weights: dict[str, float]) -> float:
    """Entropy of the parts' weights: highest when every part counts the same."""
    return -sum(w * math.log(w) for w in weights.values() if w > 0)


def _candidate(
    model: IntentModel, parts: dict[str, np.ndarray], gold: Sequence[str], weights: dict[str, float]
) -> Candidate:
    """The best threshold for one mix."""
    probs = mix(parts, weights)
    best: Candidate | None = None
    for threshold in THRESHOLDS:
        value, result = _value(model, probs, threshold, gold)
        if best is None or value > best.value + 1e-9:
            right = np.array(model.decide(probs)) == np.array(gold)
            best = Candidate(value, weights, threshold, result, right)
    assert best is not None
    return best


def _clearly_better(right: np.ndarray, baseline: np.ndarray) -> bool:
    """More rows fixed than broken, beyond chance (sign test, two standard deviations)."""
    fixed = int(np.sum(right & ~baseline))
    broken = int(np.sum(~right & baseline))
    return fixed - broken >= max(1.0, 2 * math.sqrt(fixed + broken))


def _value(
    model: IntentModel, probs: np.ndarray, threshold: float, gold: Sequence[str]
) -> tuple[float, Scores]:
    model.threshold = threshold
    result = score(gold, model.decide(probs))
    if result.oos_recall is None or result.in_scope_accuracy is None:
        return result.accuracy, result
    return (1 - OOS_SHARE) * result.in_scope_accuracy + OOS_SHARE * result.oos_recall, result


def train(
    data: Dataset,
    settings: TrainSettings,
    *,
    validation: Dataset | None = None,
    progress: bool = True,
) -> IntentModel:
    """Fit, choose on validation (refitting on all data after a split); with metadata."""
    features = featurize(data, settings, progress=progress, for_tuning=True)
    if validation is not None:
        model = fit(features, settings, progress=progress)
        val = featurize(validation, settings, progress=False, labels=features.labels)
    else:
        train_idx, val_idx = split_indices(features.y, settings.validation_fraction, settings.seed)
        model = fit(features.subset(train_idx), settings, progress=progress)
        val = features.subset(val_idx)
    gold = [features.labels[i] for i in val.y]
    weights, threshold, gate, val_scores = choose(model, _parts(model, val), gold)
    if validation is None:
        model = fit(features, settings, progress=progress)
    model.weights, model.threshold, model.gate = weights, threshold, gate
    metrics = {
        "set": "own" if validation is not None else "split",
        "accuracy": val_scores.accuracy,
        "macro_f1": val_scores.macro_f1,
        "in_scope_accuracy": val_scores.in_scope_accuracy,
        "oos_recall": val_scores.oos_recall,
        "n": val_scores.n,
        "chosen_weights": weights,
        "chosen_threshold": threshold,
        "chosen_gate": gate,
    }
    model.metadata = metadata_for(data, settings, metrics, validation)
    return model


def _parts(model: IntentModel, val: Features) -> dict[str, np.ndarray]:
    """Every part's validation probabilities, reusing the sentence vectors already computed."""
    parts = {NGRAM: model.ngram.predict_proba(val.texts)}
    if model.embed is not None and val.vectors is not None:
        parts[EMBED] = model.embed.proba_of(val.vectors)
    if model.tuned is not None:
        parts[TUNED] = model.tuned.predict_proba(val.texts)
    if model.encoder is not None:
        parts[ENCODER] = model.encoder.predict_proba(val.texts)
    return parts


def split_indices(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A stratified train/validation split (every class keeps at least one training row)."""
    rng = np.random.default_rng(seed)
    train_rows: list[int] = []
    val_rows: list[int] = []
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        n_val = int(len(rows) * fraction) if len(rows) > 2 else 0
        val_rows += rows[:n_val].tolist()
        train_rows += rows[n_val:].tolist()
    return np.array(sorted(train_rows)), np.array(sorted(val_rows), dtype=int)


def _limit_threads() -> None:
    """Use the machine's cores and no more, so two trainings side by side both finish."""
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))


def predict(model: IntentModel, texts: Sequence[str], batch: int = 256) -> list[str]:
    """Decided intents for many texts, in batches."""
    out: list[str] = []
    for start in range(0, len(texts), batch):
        out += model.decide(model.predict_proba(list(texts[start : start + batch])))
    return out


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean (0 for none)."""
    return float(np.mean(values)) if values else 0.0
