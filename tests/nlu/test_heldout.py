"""The bundled bot's own validation set: never trained on, and understood by the model.

``config/nlu/validation/`` was written apart from the training files, in
customers' own words. Training chooses the mix, the out-of-scope threshold and
the cascade gate on it, so it must share no sentence with the training data,
not even nearly (case, spaces and punctuation ignored, or nine in ten
character n-grams alike). Real messages (``bench/nlu_real.py``) judge the model.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from nlu.data import Dataset, load_files
from nlu.model import IntentModel
from nlu.train import predict

ROOT = Path(__file__).resolve().parents[2]
HELDOUT = ROOT / "config" / "nlu" / "validation"
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
NEAR = 0.9  # cosine of character 1-3 gram TF-IDF from which two texts count as one


def _key(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def _sets() -> tuple[Dataset, Dataset]:
    return load_files([ROOT / "config" / "nlu"]), load_files([HELDOUT])


def test_heldout_shares_no_text_with_the_training_data() -> None:
    training, heldout = _sets()
    seen = {_key(e.text) for e in training.examples}
    exact = [e.text for e in heldout.examples if _key(e.text) in seen]
    assert exact == []
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    train_m = vectorizer.fit_transform([_key(e.text) for e in training.examples])
    held_m = vectorizer.transform([_key(e.text) for e in heldout.examples])
    similarity = (held_m @ train_m.T).max(axis=1).toarray().ravel()
    near = [
        (heldout.examples[i].text, training.examples[int((held_m[i] @ train_m.T).argmax())].text)
        for i in np.flatnonzero(similarity >= NEAR)
    ]
    assert near == []


def test_heldout_covers_every_intent_in_both_languages() -> None:
    _, heldout = _sets()
    training, _ = _sets()
    assert set(heldout.intents) == set(training.intents)
    assert min(heldout.counts().values()) >= 8


def test_bundled_model_understands_the_heldout_messages(bundled_model_dir: Path) -> None:
    _, heldout = _sets()
    model = IntentModel.load(bundled_model_dir)
    gold = [e.intent for e in heldout.examples]
    pred = predict(model, [e.text for e in heldout.examples])
    accuracy = float(np.mean(np.array(gold) == np.array(pred)))
    right, total = Counter(), Counter(gold)
    for g, p in zip(gold, pred, strict=True):
        right[g] += g == p
    recall = {intent: right[intent] / n for intent, n in total.items()}
    assert accuracy >= 0.85, f"held-out accuracy {accuracy:.3f}"
    assert min(recall.values()) >= 0.6, recall
