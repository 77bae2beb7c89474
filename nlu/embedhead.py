"""A linear intent head over frozen pretrained sentence vectors.

Only the head is trained (logistic regression on the vectors, seconds on the
CPU); the encoder stays as its package ships it. Saved as ``embed.safetensors``
plus the encoder's name and version in the model's metadata.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LogisticRegression

from nlu.pretrained import SentenceEncoder

FILE = "embed.safetensors"


class EmbeddingClassifier:
    """Sentence vector -> softmax over intents."""

    def __init__(self, encoder: SentenceEncoder, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.encoder = encoder
        self.coef = np.ascontiguousarray(coef, dtype=np.float32)
        self.intercept = np.asarray(intercept, dtype=np.float32)

    @classmethod
    def fit(
        cls,
        encoder: SentenceEncoder,
        vectors: np.ndarray,
        labels: np.ndarray,
        n_labels: int,
        *,
        c: float = 10.0,
        seed: int = 13,
    ) -> EmbeddingClassifier:
        """Fit the head on precomputed ``vectors`` (the encoder is frozen, so embed once)."""
        lr = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        lr.fit(vectors, labels)
        coef = np.zeros((n_labels, vectors.shape[1]), dtype=np.float32)
        intercept = np.full(n_labels, -1e4, dtype=np.float32)  # a class absent from training
        coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
        return cls(encoder, coef, intercept)

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text."""
        return self.proba_of(self.encoder.encode(texts))

    def proba_of(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities for already computed sentence vectors."""
        logits = vectors @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, directory: Path) -> None:
        """Write ``embed.safetensors``."""
        save_file({"coef": self.coef, "intercept": self.intercept}, str(directory / FILE))

    @classmethod
    def load(cls, directory: Path, encoder: SentenceEncoder) -> EmbeddingClassifier:
        """Inverse of :meth:`save`; the vectors must be the encoder's size."""
        arrays = load_file(str(directory / FILE))
        if arrays["coef"].shape[1] != encoder.dim:
            expected = arrays["coef"].shape[1]
            raise ValueError(f"{FILE} expects {expected}-d vectors, not {encoder.dim}")
        return cls(encoder, arrays["coef"], arrays["intercept"])
