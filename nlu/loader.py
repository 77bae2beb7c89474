"""Find, train and load the bot's model, so ``bot serve`` works on a fresh machine.

The current model is ``<data dir>/models/current`` (a symlink to a trained
directory) unless ``MODEL_DIR`` names one. When it is missing, or was trained
on different data than the bot's ``<config dir>/nlu`` now holds, it is
trained first (about 80 s for the bundled bot on two cores; ``bot serve`` does it in the
background and says it is warming up meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bot.errors import BotError
from bot.settings import Settings
from nlu.data import Dataset, load_files
from nlu.model import IntentModel, TrainSettings, read_metadata
from nlu.pretrained import DEFAULT_ENCODER, load_encoder
from nlu.safety import SensitiveFilter
from nlu.service import NLUService
from nlu.train import train
from nlu.tuned import TuneConfig

log = logging.getLogger(__name__)
VALIDATION = "validation"  # the subfolder of <config dir>/nlu that chooses, never trains


def current_link(settings: Settings) -> Path:
    """Where the data dir keeps its current model."""
    return settings.data_dir / "models" / "current"


def bot_training_data(settings: Settings) -> Dataset:
    """The configured bot's training data: the files in ``<config dir>/nlu``."""
    return load_files([settings.config_dir / "nlu"])


def bot_validation_data(settings: Settings) -> Dataset | None:
    """``<config dir>/nlu/validation``, the bot's own validation set, if it has one."""
    folder = settings.config_dir / "nlu" / VALIDATION
    return load_files([folder]) if folder.is_dir() else None


def train_and_save(
    data: Dataset,
    out: Path | None,
    *,
    settings: Settings,
    validation: Dataset | None = None,
    seed: int = 13,
    base_model: str | None = None,
    pretrained: bool = True,
    tune: TuneConfig | None = None,
    progress: bool = True,
) -> Path:
    """Train on ``data`` into ``out`` (default: a new dir under the data dir, made current).

    ``tune`` fine-tunes e5-small's top layers too (needs ``pretrained``): the
    best model for real messages, and minutes more on two cores.
    """
    from nlu.encoder import EncoderConfig

    defaults = TrainSettings()
    settings_ = TrainSettings(
        seed=seed,
        pretrained=defaults.pretrained if pretrained else None,
        tune=tune if pretrained else None,
        encoder=EncoderConfig(seed=seed, base_model=base_model),
    )
    model = train(data, settings_, validation=validation, progress=progress)
    target = out or settings.data_dir / "models" / f"model-{data.digest()}-{seed}"
    _save_atomically(model, target)
    if out is None:
        _point_current(current_link(settings), target)
    return target


def _save_atomically(model: IntentModel, target: Path) -> None:
    """Write beside ``target``, then rename: two trainings at once never mix their files."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    model.save(staging)
    old = target.with_name(f".{target.name}-old-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):  # retrained in place: swap the old one out
        os.replace(target, old)
    try:
        os.replace(staging, target)
    except OSError:  # another training of the same data and seed got there first
        shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _point_current(link: Path, target: Path) -> None:
    """Swap the ``current`` symlink atomically (rename over the old one)."""
    tmp = link.with_name(f".current-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target.resolve())
    os.replace(tmp, link)


def resolve_model_dir(settings: Settings, *, train_if_stale: bool = True) -> Path:
    """The model directory to serve, training the bundled data first if needed."""
    return usable_model_dir(settings, train_if_stale=train_if_stale) or train_current(settings)


def usable_model_dir(settings: Settings, *, train_if_stale: bool = True) -> Path | None:
    """``MODEL_DIR``, or the current model if it was trained on today's data; else None."""
    if settings.model_dir is not None:
        return settings.model_dir
    link = current_link(settings)
    if not link.exists():
        log.info("no trained model yet: training from %s", settings.config_dir / "nlu")
        return None
    data, validation = bot_training_data(settings), bot_validation_data(settings)
    meta = read_metadata(link)
    fresh = meta.get("data_hash") == data.digest() and meta.get("validation_hash") == (
        validation.digest() if validation else None
    )
    if fresh or not train_if_stale:
        return link.resolve()
    log.info("training data changed since the current model was trained: retraining")
    return None


def train_current(settings: Settings) -> Path:
    """Train the bot's data (with its validation set) and make the result current.

    Without fine-tuning: this is what a ``bot serve`` that finds no model runs
    in the background, and a new bot should answer within two minutes, not ten.
    """
    data, validation = bot_training_data(settings), bot_validation_data(settings)
    target = train_and_save(data, None, settings=settings, validation=validation, progress=False)
    log.warning(
        "trained a quick model (not fine-tuned); the fine-tuned one understands real "
        "customers better: bot serve trains it next (FINE_TUNE_AFTER_WARM_UP), or run bot train"
    )
    return target


# the child that fine-tunes: `bot train`, niced first, so the replica's turns come first
_NICE_TRAIN = "import os; os.nice(10); from service.cli import main; main(prog_name='bot')"


async def fine_tune_current(settings: Settings) -> Path:
    """Fine-tune the bot's model in a child process at a lower priority; its directory.

    What a first ``bot serve`` runs once its quick model answers: the fine-tuned
    model reads real customers better (README, "Real customer messages") but takes
    about five minutes and 1.7 GB on two cores. In a child at nice 10 the replica's
    turns come first and the memory goes back when it ends; cancelled (the replica
    stops), it stops the child too. Its output: ``<data dir>/models/fine-tune.log``.
    """
    log_path = settings.data_dir / "models" / "fine-tune.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    where = ["--config", str(settings.config_dir), "--data-dir", str(settings.data_dir)]
    with log_path.open("wb") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _NICE_TRAIN, *where, "train", stdout=out, stderr=out
        )
    try:
        code = await child.wait()
    finally:
        if child.returncode is None:
            child.terminate()
            await child.wait()
    if code != 0:
        raise BotError(f"fine-tuning exited with {code}; see {log_path}")
    return current_link(settings).resolve()


def load_nlu(settings: Settings) -> NLUService:
    """A ready-to-start :class:`NLUService` for ``settings``.

    With no usable model it starts empty and trains one when started, so that
    ``bot serve`` answers health checks (and says it is warming up) meanwhile; that
    quick model answers until the fine-tuned one is ready (``fine_tune_after_warm_up``).
    """
    directory = usable_model_dir(settings)
    if directory is None:  # what the warm-up training needs must fail start-up, in one line
        bot_training_data(settings)
        load_encoder(TrainSettings().pretrained or DEFAULT_ENCODER)
    service = NLUService(
        IntentModel.load(directory) if directory else None,
        sensitive=SensitiveFilter.from_file(settings.config_dir / "sensitive_words.txt"),
        cache_size=settings.nlu_cache_size,
        warm_up=None if directory else lambda: train_current(settings),
        improve=(lambda: fine_tune_current(settings)) if settings.fine_tune_after_warm_up else None,
    )
    service.model_dir = directory
    return service
