"""FAQ answering by retrieval: char n-gram TF-IDF cosine over every listed question.

Questions and messages are compared as the intent model reads them
(``nlu.openers.request_text``), so "您好 我想问一下 退款多久到账" matches as well as
"退款多久到账" does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from nlu.openers import request_text
from nlu.tfidf import TextVectors


@dataclass(frozen=True, slots=True)
class FaqMatch:
    """The best FAQ for a question and how close it is (cosine, 0..1)."""

    faq_id: str
    score: float
    answer: Mapping[str, str]
    buttons: Sequence[Mapping[str, Any]] = ()  # e.g. one that starts the flow the answer names


class FaqIndex:
    """Nearest listed question, in any language."""

    def __init__(self, faqs: Sequence[Mapping[str, Any]]) -> None:
        self._rows: list[Mapping[str, Any]] = []
        questions: list[str] = []
        for faq in faqs:
            for variants in faq.get("questions", {}).values():
                for question in variants:
                    questions.append(request_text(str(question)))
                    self._rows.append(faq)
        self._by_feature: np.ndarray | None = None
        self._vectors: TextVectors | None = None
        if questions:
            vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
            matrix = vectorizer.fit_transform(questions)
            # n-grams x questions, dense: a few hundred columns, read per message
            self._by_feature = np.ascontiguousarray(matrix.T.toarray())
            self._vectors = TextVectors(vectorizer)

    def best(self, question: str) -> FaqMatch | None:
        """The closest FAQ, or None when there are no FAQs."""
        if self._by_feature is None or self._vectors is None:
            return None
        index, weights = self._vectors.row(request_text(question))
        scores = weights @ self._by_feature[index]
        row = int(scores.argmax())
        faq = self._rows[row]
        return FaqMatch(
            str(faq["id"]), float(scores[row]), faq.get("answer", {}), faq.get("buttons", ())
        )
