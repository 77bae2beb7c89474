"""TF-IDF of short texts without scikit-learn's per-call overhead.

``TfidfVectorizer.transform`` validates its input and builds a sparse matrix on
every call, which for one chat message costs far more than the arithmetic.
:class:`TextVectors` takes a *fitted* vectorizer, reuses its own analyzer (so
the n-grams are exactly scikit-learn's) and computes the same weights (raw or
sublinear tf, times idf, l2-normalised) with plain dicts and numpy.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


class TextVectors:
    """Sparse TF-IDF rows, as (column indexes, weights), equal to the vectorizer's own."""

    def __init__(self, vectorizer: TfidfVectorizer) -> None:
        if vectorizer.norm != "l2" or not vectorizer.use_idf:
            raise ValueError("TextVectors reproduces l2-normalised TF-IDF only")
        self._analyze = vectorizer.build_analyzer()
        vocabulary = getattr(vectorizer, "vocabulary_", None) or vectorizer.vocabulary
        self._vocab: dict[str, int] = dict(vocabulary)
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._sublinear = bool(vectorizer.sublinear_tf)

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Indexes and weights of the non-zero features of ``text``."""
        counts: dict[int, int] = {}
        for gram in self._analyze(text):
            column = self._vocab.get(gram)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        if self._sublinear:
            tf = 1.0 + np.log(tf)
        weights = tf * self._idf[index]
        norm = float(np.sqrt(weights @ weights))
        if norm > 0:
            weights /= norm
        return index, weights
