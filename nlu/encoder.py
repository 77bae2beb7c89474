"""An optional fine-tuned transformer part, from a local base model or from scratch.

Not part of the default model: trained from scratch on the bundled data it
earned a validation weight of 0 and cost four minutes of every ``bot train``.
``bot train --base-model PATH`` fine-tunes any local Hugging Face encoder
directory (``local_files_only``: nothing is ever downloaded);
``--base-model scratch`` trains a BERT-shaped encoder (2 layers, hidden 128)
with its own WordPiece tokenizer built from the training data.
Saved in transformers' ``save_pretrained`` layout under ``encoder/``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import BertWordPieceTokenizer
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

SCRATCH = "scratch"


@dataclass(frozen=True)
class EncoderConfig:
    """Shape and training of the encoder."""

    layers: int = 2
    hidden: int = 128
    heads: int = 4
    intermediate: int = 256
    max_len: int = 48
    vocab_size: int = 6000
    epochs: int = 25
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 13
    base_model: str | None = None


def seed_everything(seed: int) -> None:
    """Make training repeatable."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_tokenizer(texts: list[str], *, vocab_size: int) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer trained on ``texts``: CJK per character, Latin as word pieces."""
    wordpiece = BertWordPieceTokenizer(
        lowercase=True, handle_chinese_chars=True, strip_accents=False
    )
    wordpiece.train_from_iterator(
        texts, vocab_size=vocab_size, min_frequency=1, show_progress=False
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=wordpiece._tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def _fresh_model(
    cfg: EncoderConfig, tokenizer: PreTrainedTokenizerFast, n_labels: int
) -> PreTrainedModel:
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        intermediate_size=cfg.intermediate,
        max_position_embeddings=cfg.max_len + 2,
        num_labels=n_labels,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    return BertForSequenceClassification(config)


class EncoderClassifier:
    """Tokenizer + sequence classifier, with batched prediction on the CPU."""

    def __init__(
        self, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, max_len: int
    ) -> None:
        self.tokenizer = tokenizer
        self.model = model.eval()
        self.max_len = max_len

    @classmethod
    def fit(
        cls,
        texts: list[str],
        labels: np.ndarray,
        *,
        n_labels: int,
        cfg: EncoderConfig,
        progress: bool = True,
    ) -> EncoderClassifier:
        """Train on ``texts``/``labels``; deterministic for a given ``cfg.seed``."""
        seed_everything(cfg.seed)
        if cfg.base_model and cfg.base_model != SCRATCH:
            tokenizer = AutoTokenizer.from_pretrained(cfg.base_model, local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                cfg.base_model,
                num_labels=n_labels,
                local_files_only=True,
                ignore_mismatched_sizes=True,
            )
            lr = min(cfg.lr, 5e-5)
        else:
            tokenizer = build_tokenizer(texts, vocab_size=cfg.vocab_size)
            model = _fresh_model(cfg, tokenizer, n_labels)
            lr = cfg.lr
        _train(model, tokenizer, texts, labels, cfg=cfg, lr=lr, progress=progress)
        return cls(tokenizer, model, cfg.max_len)

    @torch.inference_mode()
    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """Class probabilities, one row per text."""
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_len, return_tensors="pt"
        )
        logits = self.model(**batch).logits
        return torch.softmax(logits.float(), dim=-1).numpy()

    def save(self, directory: Path) -> None:
        """``save_pretrained`` layout: config, safetensors weights, tokenizer files."""
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def load(cls, directory: Path, *, max_len: int) -> EncoderClassifier:
        """Inverse of :meth:`save`; local files only."""
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True)
        return cls(tokenizer, model, max_len)


def _train(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: list[str],
    labels: np.ndarray,
    *,
    cfg: EncoderConfig,
    lr: float,
    progress: bool,
) -> None:
    model.train()
    encoded = tokenizer(
        texts, padding="max_length", truncation=True, max_length=cfg.max_len, return_tensors="pt"
    )
    target = torch.as_tensor(labels, dtype=torch.long)
    steps_per_epoch = math.ceil(len(texts) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=total, pct_start=0.1
    )
    generator = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(total=total, desc="encoder", unit="step", disable=not progress, leave=False)
    for _ in range(cfg.epochs):
        order = torch.randperm(len(texts), generator=generator)
        for start in range(0, len(texts), cfg.batch_size):
            idx = order[start : start + cfg.batch_size]
            out = model(
                input_ids=encoded["input_ids"][idx],
                attention_mask=encoded["attention_mask"][idx],
                labels=target[idx],
            )
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            bar.update(1)
    bar.close()
    model.eval()
