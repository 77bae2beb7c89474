"""What ``bot eval`` runs: load data, get a model (given, trained, or cross-validated), score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bot.errors import ConfigError
from bot.settings import Settings
from nlu.data import Dataset
from nlu.datasets import read
from nlu.evaluate import percentile_ms, score, timed_single_parses
from nlu.model import IntentModel, TrainSettings
from nlu.train import predict, train
from nlu.types import OUT_OF_SCOPE


def run_eval(
    settings: Settings,
    *,
    data_path: Path,
    fmt: str,
    split: str,
    model_dir: Path | None,
    train_path: Path | None,
    cv: int | None,
    png: Path | None,
) -> dict[str, Any]:
    """Evaluate and return the report (also writes the confusion matrix PNG)."""
    data = read(data_path, fmt, split=split)
    if cv:
        gold, pred, model = _cross_validate(data, cv)
    else:
        model = _model(settings, model_dir, train_path, fmt, split)
        unknown = sorted({e.intent for e in data.examples} - set(model.labels) - {OUT_OF_SCOPE})
        if unknown:  # a typo in a label would otherwise score as a silent miss
            raise ConfigError(f"{data_path}: labels the model does not know: {', '.join(unknown)}")
        gold = [e.intent for e in data.examples]
        pred = predict(model, [e.text for e in data.examples])
    scores = score(gold, pred)
    latency = timed_single_parses(model.predict_proba, [e.text for e in data.examples])
    scores.latency_ms_p50 = percentile_ms(latency, 50)
    scores.latency_ms_p99 = percentile_ms(latency, 99)
    if png is not None:
        write_confusion(gold, pred, png)
    return scores.as_dict()


def _model(
    settings: Settings, model_dir: Path | None, train_path: Path | None, fmt: str, split: str
) -> IntentModel:
    if train_path is not None:
        return train(read(train_path, fmt, split="train"), TrainSettings(), progress=True)
    if model_dir is not None:
        return IntentModel.load(model_dir)
    from nlu.loader import resolve_model_dir

    return IntentModel.load(resolve_model_dir(settings))


def _cross_validate(data: Dataset, k: int) -> tuple[list[str], list[str], IntentModel]:
    if k < 2:
        raise ConfigError("--cv needs at least 2 folds")
    rng = np.random.default_rng(13)
    order = rng.permutation(len(data.examples))
    gold: list[str] = []
    pred: list[str] = []
    model: IntentModel | None = None
    for fold in range(k):
        test_idx = set(order[fold::k].tolist())
        train_part = Dataset(
            [e for i, e in enumerate(data.examples) if i not in test_idx], data.sources
        )
        test_part = [e for i, e in enumerate(data.examples) if i in test_idx]
        model = train(train_part, TrainSettings(), progress=False)
        gold += [e.intent for e in test_part]
        pred += predict(model, [e.text for e in test_part])
    assert model is not None
    return gold, pred, model


def write_confusion(gold: list[str], pred: list[str], path: Path) -> None:
    """A confusion-matrix heat map as PNG (labels shown when there are few enough)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = sorted(set(gold) | set(pred))
    index = {name: i for i, name in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        matrix[index[g], index[p]] += 1
    size = min(20, 4 + len(labels) * 0.25)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    if len(labels) <= 40:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
