"""The intent model: n-gram and encoder probabilities averaged, with an out-of-scope rule.

A model directory holds::

    encoder/              transformers save_pretrained layout (config, weights, tokenizer)
    ngram.safetensors     TF-IDF idf + linear weights      ngram_vocab.json
    labels.json           intent names by class index
    metadata.json         schema, data hash, date, settings, validation metrics

Loading checks the schema version and that every file is there and readable,
raising :class:`ModelError` with a clear message otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bot.errors import BotError
from nlu.data import Dataset
from nlu.encoder import EncoderClassifier, EncoderConfig
from nlu.ngram import NgramClassifier
from nlu.normalize import for_classifier
from nlu.types import OUT_OF_SCOPE

SCHEMA_VERSION = 1


class ModelError(BotError):
    """A model directory that cannot be used (missing, corrupt, or from a newer schema)."""


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides a trained model, recorded in its metadata."""

    seed: int = 13
    neural_weight: float = 0.5  # 0 = n-grams only, 1 = encoder only
    threshold: float = 0.3  # below this top confidence the intent is out_of_scope
    validation_fraction: float = 0.1
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class IntentModel:
    """Predicts intent probabilities for normalised texts."""

    def __init__(
        self,
        *,
        labels: list[str],
        ngram: NgramClassifier,
        encoder: EncoderClassifier | None,
        neural_weight: float,
        threshold: float,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.labels = labels
        self.ngram = ngram
        self.encoder = encoder
        self.neural_weight = neural_weight if encoder is not None else 0.0
        self.threshold = threshold
        self.metadata = metadata or {}

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities over :attr:`labels` for raw texts (normalised here)."""
        clean = [for_classifier(t) or t for t in texts]
        probs = self.ngram.predict_proba(clean)
        if self.encoder is not None and self.neural_weight > 0:
            probs = (
                1 - self.neural_weight
            ) * probs + self.neural_weight * self.encoder.predict_proba(clean)
        return probs

    def decide(self, probs: np.ndarray) -> list[str]:
        """Top intent per row, or out_of_scope below the threshold."""
        top = probs.argmax(axis=1)
        return [
            OUT_OF_SCOPE if probs[i, j] < self.threshold else self.labels[j]
            for i, j in enumerate(top)
        ]

    # -- persistence --------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the model directory (see the module docstring)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.ngram.save(directory)
        if self.encoder is not None:
            self.encoder.save(directory / "encoder")
        (directory / "labels.json").write_text(
            json.dumps(self.labels, ensure_ascii=False), encoding="utf-8"
        )
        meta = {
            **self.metadata,
            "schema_version": SCHEMA_VERSION,
            "neural_weight": self.neural_weight,
            "threshold": self.threshold,
            "has_encoder": self.encoder is not None,
        }
        (directory / "metadata.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        """Load a model directory; :class:`ModelError` if it cannot be used."""
        meta = _read_json(directory / "metadata.json")
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise ModelError(
                f"{directory}: model schema {version} is newer than this bot "
                f"understands ({SCHEMA_VERSION}); upgrade the bot or retrain"
            )
        labels = _read_json(directory / "labels.json")
        try:
            ngram = NgramClassifier.load(directory)
            encoder = None
            if meta.get("has_encoder"):
                max_len = int(meta.get("settings", {}).get("encoder", {}).get("max_len", 48))
                encoder = EncoderClassifier.load(directory / "encoder", max_len=max_len)
        except Exception as exc:
            raise ModelError(f"{directory}: model files are missing or corrupt ({exc})") from None
        if ngram.coef.shape[0] != len(labels):
            raise ModelError(f"{directory}: labels.json does not match the weights")
        return cls(
            labels=labels,
            ngram=ngram,
            encoder=encoder,
            neural_weight=float(meta["neural_weight"]),
            threshold=float(meta["threshold"]),
            metadata=meta,
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path.parent}: not a model directory ({path.name} is missing)") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"{path}: corrupt ({path.name} is not valid JSON)") from None


def fit(data: Dataset, settings: TrainSettings, *, progress: bool = True) -> IntentModel:
    """Train both halves on every example of ``data``."""
    labels = data.intents
    index = {name: i for i, name in enumerate(labels)}
    texts = [for_classifier(e.text) or e.text for e in data.examples]
    y = np.array([index[e.intent] for e in data.examples])
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    ngram = NgramClassifier.fit(texts, y, seed=settings.seed)
    encoder = None
    if settings.neural_weight > 0:
        encoder = EncoderClassifier.fit(
            texts, y, n_labels=len(labels), cfg=settings.encoder, progress=progress
        )
    return IntentModel(
        labels=labels,
        ngram=ngram,
        encoder=encoder,
        neural_weight=settings.neural_weight,
        threshold=settings.threshold,
    )


def split(data: Dataset, fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """A stratified train/validation split (every intent keeps at least one training example)."""
    rng = np.random.default_rng(seed)
    train, val = Dataset(sources=data.sources), Dataset(sources=data.sources)
    by_intent: dict[str, list[Any]] = {}
    for e in data.examples:
        by_intent.setdefault(e.intent, []).append(e)
    for examples in by_intent.values():
        order = rng.permutation(len(examples))
        n_val = int(len(examples) * fraction) if len(examples) > 2 else 0
        val.examples += [examples[i] for i in order[:n_val]]
        train.examples += [examples[i] for i in order[n_val:]]
    return train, val


def metadata_for(data: Dataset, settings: TrainSettings, metrics: dict[str, Any]) -> dict[str, Any]:
    """What a trained model records about itself."""
    return {
        "data_hash": data.digest(),
        "data_sources": data.sources,
        "examples": len(data.examples),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": asdict(settings),
        "validation": metrics,
    }
