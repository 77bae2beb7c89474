"""Helpers shared by the sub-commands."""

from __future__ import annotations

import click

from bot.logs import configure_logging
from bot.settings import Settings, load_settings
from service.plugins import platform_settings


def settings_from(
    ctx: click.Context, *, json_logs: bool | None = None, **overrides: object
) -> Settings:
    """Load settings from the group's options and set up safe logging."""
    obj = ctx.find_root().obj or {}
    settings = load_settings(obj.get("config_dir"), obj.get("data_dir"), **overrides)
    configure_logging(
        level=settings.log_level,
        json_lines=settings.log_json if json_logs is None else json_logs,
        secrets=secret_values(settings),
    )
    return settings


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret, the platforms' included, so the log filter can scrub it."""
    values = []
    for model in (settings, *platform_settings(settings).values()):
        for name, value in model:
            if hasattr(value, "get_secret_value") and value is not None:
                values.append(value.get_secret_value())
            elif name == "redis_url" and value and "@" in value:
                values.append(value.split("://", 1)[-1].split("@", 1)[0])
    return values
