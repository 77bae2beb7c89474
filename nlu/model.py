"""The intent model: n-gram and pretrained-vector probabilities mixed, with an out-of-scope rule.

A model directory holds::

    ngram.safetensors     TF-IDF idf + linear weights      ngram_vocab.json
    embed.safetensors     linear head over frozen pretrained sentence vectors (optional)
    tuned.safetensors     top layers + head of e5-small fine-tuned on the intents (optional)
    encoder/              a fine-tuned transformer, save_pretrained layout (optional)
    labels.json           intent names by class index
    metadata.json         schema, data hash, date, settings, mixing weights, validation metrics

Every part reads :func:`nlu.openers.request_text`: the message without the
greeting or filler in front of the request. Loading checks the schema
version, that every file is there and readable, and that the pretrained
encoder the head was trained on is installed, raising :class:`ModelError`
with a clear message otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlu.data import Dataset
from nlu.embedhead import EmbeddingClassifier
from nlu.encoder import EncoderClassifier, EncoderConfig
from nlu.ngram import NgramClassifier
from nlu.openers import request_text, without_closers
from nlu.pretrained import DEFAULT_ENCODER, load_encoder
from nlu.tuned import TuneConfig, TunedClassifier
from nlu.types import OUT_OF_SCOPE, SOCIAL, ModelError

SCHEMA_VERSION = 2
NGRAM, EMBED, TUNED, ENCODER = "ngram", "embed", "tuned", "encoder"
# How sure the second read of a message without its closing thanks must be of a request
# to overrule the social turn that the whole message read as.
REQUEST_UNDER_CLOSERS = 0.5


@dataclass(frozen=True)
class TrainSettings:
    """Everything that decides a trained model, recorded in its metadata."""

    seed: int = 13
    pretrained: str | None = DEFAULT_ENCODER  # frozen sentence vectors; None: n-grams only
    threshold: float = 0.3  # below this top confidence the intent is out_of_scope
    validation_fraction: float = 0.15
    tune: TuneConfig | None = None  # fine-tune e5-small's top layers (bot train's default)
    # a transformer is fine-tuned only when encoder.base_model names one ("scratch": untrained)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)


class IntentModel:
    """Predicts intent probabilities for raw texts."""

    def __init__(
        self,
        *,
        labels: list[str],
        ngram: NgramClassifier,
        embed: EmbeddingClassifier | None = None,
        encoder: EncoderClassifier | None = None,
        tuned: TunedClassifier | None = None,
        weights: Mapping[str, float] | None = None,
        threshold: float,
        gate: float = 1.0,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.labels = labels
        self.ngram = ngram
        self.embed = embed
        self.encoder = encoder
        self.tuned = tuned
        self.weights = dict(weights or {NGRAM: 1.0})
        self.threshold = threshold
        self.gate = gate
        self.metadata = metadata or {}

    def parts(self, clean: list[str], ngram: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Each part's probabilities for texts already passed through ``request_text``."""
        out = {NGRAM: self.ngram.predict_proba(clean) if ngram is None else ngram}
        if self.embed is not None and self.weights.get(EMBED, 0) > 0:
            out[EMBED] = self.embed.predict_proba(clean)
        if self.tuned is not None and self.weights.get(TUNED, 0) > 0:
            out[TUNED] = self.tuned.predict_proba(clean)
        if self.encoder is not None and self.weights.get(ENCODER, 0) > 0:
            out[ENCODER] = self.encoder.predict_proba(clean)
        return out

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Probabilities over :attr:`labels` for raw texts (normalised here).

        A cascade: the n-grams (a fraction of a millisecond) answer alone where
        they are at least :attr:`gate` sure; only the rest pay for the
        pretrained encoder (several milliseconds a text).
        """
        clean = [request_text(t) for t in texts]
        probs = self._cascade(clean)
        self._read_past_closers(clean, probs)
        return probs

    def _cascade(self, clean: list[str]) -> np.ndarray:
        probs = self.ngram.predict_proba(clean)
        unsure = np.flatnonzero(probs.max(axis=1) < self.gate)
        if len(unsure) and any(w > 0 for name, w in self.weights.items() if name != NGRAM):
            rest = [clean[i] for i in unsure]
            probs[unsure] = mix(self.parts(rest, probs[unsure]), self.weights)
        return probs

    def _read_past_closers(self, clean: list[str], probs: np.ndarray) -> None:
        """A request followed by thanks ("快点发货吧 谢谢啦") is the request: where the
        whole message reads as a social turn, the text without its closing words is
        read too, and a request found there at least ``REQUEST_UNDER_CLOSERS`` sure
        replaces it (in ``probs``). Thanks alone, or thanks for something done
        ("问题解决了 谢谢"), reads as a social turn both ways and stays thanks."""
        found = [
            (i, cut)
            for i, text in enumerate(clean)
            if self.labels[int(probs[i].argmax())] in SOCIAL and (cut := without_closers(text))
        ]
        if not found:
            return
        again = self._cascade([cut for _, cut in found])
        for (i, _), row in zip(found, again, strict=True):
            best = self.labels[int(row.argmax())]
            if best not in SOCIAL and best != OUT_OF_SCOPE and row.max() >= REQUEST_UNDER_CLOSERS:
                probs[i] = row

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
        if self.embed is not None:
            self.embed.save(directory)
        if self.tuned is not None:
            self.tuned.save(directory)
        if self.encoder is not None:
            self.encoder.save(directory / ENCODER)
        (directory / "labels.json").write_text(
            json.dumps(self.labels, ensure_ascii=False), encoding="utf-8"
        )
        pretrained = (
            {"name": self.embed.encoder.name, "version": self.embed.encoder.version}
            if self.embed is not None
            else None
        )
        meta = {
            **self.metadata,
            "schema_version": SCHEMA_VERSION,
            "weights": self.weights,
            "threshold": self.threshold,
            "gate": self.gate,
            "pretrained": pretrained,
            "has_encoder": self.encoder is not None,
            "tuned": asdict(self.tuned.cfg) if self.tuned is not None else None,
        }
        (directory / "metadata.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path) -> IntentModel:
        """Load a model directory; :class:`ModelError` if it cannot be used."""
        meta = read_metadata(directory)
        version = int(meta.get("schema_version", 0))
        if version > SCHEMA_VERSION:
            raise ModelError(
                f"{directory}: model schema {version} is newer than this bot "
                f"understands ({SCHEMA_VERSION}); upgrade the bot or retrain"
            )
        labels = _read_json(directory / "labels.json")
        pretrained = meta.get("pretrained")
        # the encoder's own errors already say what is wrong with the package
        vectors = load_encoder(pretrained["name"]) if pretrained else None
        try:
            ngram = NgramClassifier.load(directory)
            embed = EmbeddingClassifier.load(directory, vectors) if vectors else None
            tuned = None
            if meta.get("tuned"):
                tuned = TunedClassifier.load(
                    directory, n_labels=len(labels), cfg=TuneConfig(**meta["tuned"])
                )
            encoder = None
            if meta.get("has_encoder"):
                max_len = int(meta.get("settings", {}).get("encoder", {}).get("max_len", 48))
                encoder = EncoderClassifier.load(directory / ENCODER, max_len=max_len)
        except Exception as exc:
            raise ModelError(f"{directory}: model files are missing or corrupt ({exc})") from None
        if ngram.coef.shape[0] != len(labels):
            raise ModelError(f"{directory}: labels.json does not match the weights")
        return cls(
            labels=labels,
            ngram=ngram,
            embed=embed,
            encoder=encoder,
            tuned=tuned,
            weights=_weights(meta),
            threshold=float(meta["threshold"]),
            gate=float(meta.get("gate", 1.0)),
            metadata=meta,
        )


def mix(parts: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """The weighted average of the parts' probabilities (weights of absent parts ignored)."""
    used = {name: w for name, w in weights.items() if name in parts and w > 0}
    if not used:
        return parts[NGRAM]
    total = sum(used.values())
    return sum((w / total) * parts[name] for name, w in used.items())  # type: ignore[return-value]


def _weights(meta: dict[str, Any]) -> dict[str, float]:
    if "weights" in meta:
        return {str(k): float(v) for k, v in meta["weights"].items()}
    neural = float(meta.get("neural_weight", 0.0))  # schema 1: n-grams + encoder
    return {NGRAM: 1 - neural, ENCODER: neural}


def read_metadata(directory: Path) -> dict[str, Any]:
    """A model directory's ``metadata.json`` alone, without loading any weights."""
    meta = _read_json(directory / "metadata.json")
    if not isinstance(meta, dict):
        raise ModelError(f"{directory}: corrupt (metadata.json is not an object)")
    return meta


def read_labels(directory: Path) -> list[str]:
    """The intents a model directory knows, without loading any weights."""
    read_metadata(directory)  # a directory without metadata is no model, whatever else it holds
    labels = _read_json(directory / "labels.json")
    if not isinstance(labels, list):
        raise ModelError(f"{directory}: corrupt (labels.json is not a list)")
    return [str(label) for label in labels]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path.parent}: not a model directory ({path.name} is missing)") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelError(f"{path}: corrupt ({path.name} is not valid JSON)") from None


def metadata_for(
    data: Dataset,
    settings: TrainSettings,
    metrics: dict[str, Any],
    validation: Dataset | None = None,
) -> dict[str, Any]:
    """What a trained model records about itself."""
    return {
        "data_hash": data.digest(),
        "validation_hash": validation.digest() if validation else None,
        "data_sources": data.sources,
        "examples": len(data.examples),
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": asdict(settings),
        "validation": metrics,
    }
