"""Find, train and load the bot's model, so ``bot serve`` works on a fresh machine.

The current model is ``<data dir>/models/current`` (a symlink to a trained
directory) unless ``MODEL_DIR`` names one. When it is missing, or was trained
on different data than the bot's ``<config dir>/nlu`` now holds, it is
trained first (about half a minute for the bundled bot on two cores).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import redis.asyncio as aioredis

from bot.settings import Settings
from nlu.data import Dataset, load_files
from nlu.misses import MissRecorder
from nlu.model import IntentModel, TrainSettings
from nlu.safety import SensitiveFilter
from nlu.service import NLUService
from nlu.train import train

log = logging.getLogger(__name__)


def current_link(settings: Settings) -> Path:
    """Where the data dir keeps its current model."""
    return settings.data_dir / "models" / "current"


def bot_training_data(settings: Settings) -> Dataset:
    """The configured bot's training data."""
    return load_files([settings.config_dir / "nlu"])


def train_and_save(
    data: Dataset,
    out: Path | None,
    *,
    settings: Settings,
    seed: int = 13,
    base_model: str | None = None,
    progress: bool = True,
) -> Path:
    """Train on ``data`` into ``out`` (default: a new dir under the data dir, made current)."""
    from nlu.encoder import EncoderConfig

    model = train(
        data,
        TrainSettings(seed=seed, encoder=EncoderConfig(seed=seed, base_model=base_model)),
        progress=progress,
    )
    target = out or settings.data_dir / "models" / f"model-{data.digest()}-{seed}"
    model.save(target)
    if out is None:
        _point_current(current_link(settings), target)
    return target


def _point_current(link: Path, target: Path) -> None:
    """Swap the ``current`` symlink atomically (rename over the old one)."""
    tmp = link.with_name(f".current-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.resolve())
    os.replace(tmp, link)


def resolve_model_dir(settings: Settings, *, train_if_stale: bool = True) -> Path:
    """The model directory to serve, training the bundled data first if needed."""
    if settings.model_dir is not None:
        return settings.model_dir
    link = current_link(settings)
    data = bot_training_data(settings)
    if link.exists():
        meta = IntentModel.load(link).metadata
        if not train_if_stale or meta.get("data_hash") == data.digest():
            return link.resolve()
        log.info("training data changed since the current model was trained: retraining")
    else:
        log.info("no trained model yet: training from %s", settings.config_dir / "nlu")
    return train_and_save(data, None, settings=settings, progress=False)


def load_nlu(settings: Settings, *, redis: aioredis.Redis | None = None) -> NLUService:
    """A ready-to-start :class:`NLUService` for ``settings``."""
    directory = resolve_model_dir(settings)
    service = NLUService(
        IntentModel.load(directory),
        sensitive=SensitiveFilter.from_file(settings.config_dir / "sensitive_words.txt"),
        misses=MissRecorder(redis, settings.redis_prefix) if redis is not None else None,
        cache_size=settings.nlu_cache_size,
    )
    service.model_dir = directory
    return service
