"""The fast TF-IDF path gives exactly scikit-learn's vectors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from nlu.tfidf import TextVectors

TRAIN = ["我的订单到哪了", "运费怎么算", "Where is my ORDER?", "退货  退款", "发票 invoice 怎么开"]
PROBES = ["订单到哪了呢", "WHERE is my order", "", "   ", "完全陌生的句子", "退货\t退款 invoice"]


@pytest.mark.parametrize(
    "options",
    [
        {"analyzer": "char", "ngram_range": (1, 3), "sublinear_tf": True, "lowercase": False},
        {"analyzer": "char_wb", "ngram_range": (1, 3), "sublinear_tf": True},
        {"analyzer": "char", "ngram_range": (2, 4)},
    ],
)
def test_rows_equal_sklearn_transform(options: dict) -> None:
    vectorizer = TfidfVectorizer(**options).fit(TRAIN)
    vectors = TextVectors(vectorizer)
    expected = vectorizer.transform(PROBES).toarray()
    for probe, want in zip(PROBES, expected, strict=True):
        index, weights = vectors.row(probe)
        got = np.zeros_like(want)
        got[index] = weights
        np.testing.assert_allclose(got, want, atol=1e-9)


def test_other_norms_are_refused() -> None:
    vectorizer = TfidfVectorizer(norm="l1").fit(TRAIN)
    with pytest.raises(ValueError):
        TextVectors(vectorizer)


def test_batched_and_single_predictions_agree(bundled_model_dir) -> None:
    """Big batches take scikit-learn's path, single texts the fast one: same probabilities."""
    from nlu.model import IntentModel
    from nlu.ngram import BATCH_MIN

    ngram = IntentModel.load(bundled_model_dir).ngram
    texts = [f"我的订单{i}到哪了" for i in range(BATCH_MIN + 4)] + ["how much is shipping"]
    batched = ngram.predict_proba(texts)
    singles = np.vstack([ngram.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
