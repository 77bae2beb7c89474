"""The ``bot`` command group: global options anywhere, setup errors as one line.

``bot train --config DIR`` works like ``bot --config DIR train``: every
sub-command also accepts the group's options and hands them to the group.
A setup error (bad configuration, no model, Redis unreachable, bad input
file) ends any command with ``Error: <one line>`` and exit status 1, never
a traceback.
"""

from __future__ import annotations

from typing import Any

import click
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.errors import BotError

# What a user can fix by changing settings, files or services; anything else is a bug
# and keeps its traceback.
SETUP_ERRORS: tuple[type[Exception], ...] = (BotError, RedisError, ValidationError, OSError)


class BotGroup(click.Group):
    """A group whose sub-commands take its options too and report setup errors in one line."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd`` with this group's options added (to its own sub-commands too)."""
        _add_global_options(cmd, [p for p in self.params if isinstance(p, click.Option)])
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the sub-command; a setup error becomes click's one-line ``Error:``."""
        try:
            return super().invoke(ctx)
        except SETUP_ERRORS as exc:
            raise click.ClickException(one_line(exc)) from None


def one_line(exc: Exception) -> str:
    """The error's message on one line (YAML and pydantic errors span several)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        return f"invalid setting {where}: {first['msg']}"
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return f"Redis is unreachable (check REDIS_URL): {text}"
    return text


def _add_global_options(cmd: click.Command, options: list[click.Option]) -> None:
    taken = {name for p in cmd.params for name in p.opts}
    for option in options:
        if not taken.intersection(option.opts):
            cmd.params.append(_copy_to_group(option))
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _add_global_options(sub, options)


def _copy_to_group(option: click.Option) -> click.Option:
    """``option`` for a sub-command: its value, when given, replaces the group's."""
    key = option.name

    def store(ctx: click.Context, _: click.Parameter, value: object) -> None:
        if value is not None:
            root = ctx.find_root()
            root.obj = {**(root.obj or {}), key: value}

    return click.Option(
        option.opts,
        type=option.type,
        help=option.help,
        expose_value=False,
        callback=store,
    )
