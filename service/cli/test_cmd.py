"""``bot test PATH...``: run YAML conversation tests through the whole pipeline."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from bot.errors import ConfigError
from bot.settings import RateLimitRule, Settings
from dialog import testing
from service.bootstrap import build_runtime
from service.cli.common import settings_from
from service.plugins import platform_names


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def command(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Run conversation scripts; prints failures and 'N passed, M failed'; non-zero on failure."""
    # Scripts type faster than people: the per-user rate limit is lifted for the run.
    settings = settings_from(
        ctx,
        json_logs=False,
        log_level="ERROR",
        rate_limit=RateLimitRule(per_minute=100_000, burst=10_000),
        rate_limits={},
    )
    try:
        conversations = testing.load_scripts(list(paths), platform_names())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    outcome = asyncio.run(_run(settings, conversations))
    click.echo(testing.report(outcome))
    sys.exit(1 if outcome.failed else 0)


async def _run(settings: Settings, conversations: list[dict[str, object]]) -> testing.Outcome:
    # scripts run in seconds: no fine-tuning child for a bot that had to warm up
    quick = settings.model_copy(update={"fine_tune_after_warm_up": False})
    runtime = build_runtime(quick, console_write=lambda _: None)
    testing.prepare(runtime, platform_names())
    await runtime.start()
    try:
        return await testing.run(runtime, conversations)
    finally:
        await runtime.stop()
