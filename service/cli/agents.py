"""``bot agents``: the people who may sign in to the agent console at ``/agent``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from bot.keys import Keys
from bot.redis_conn import connect
from bot.settings import Settings
from service.cli.common import settings_from

T = TypeVar("T")


def _with_store(settings: Settings, act: Callable[..., Awaitable[T]]) -> T:
    """Run ``act(store)`` against the bot's Redis, and close the connection."""
    from adapters.agent_console.agents import AgentStore

    async def run() -> T:
        handle = connect(
            redis_url=settings.redis_url, data_dir=settings.data_dir, cluster=settings.redis_cluster
        )
        try:
            store = AgentStore(
                handle.client,
                Keys(settings.redis_prefix),
                session_ttl_s=settings.agent_session_ttl_s,
            )
            return await act(store)
        finally:
            await handle.close()

    return asyncio.run(run())


@click.group("agents")
def command() -> None:
    """Add, list and remove agents of the web console (/agent)."""


@command.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def add(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Create agent NAME (or set a new password); prompts for the password."""
    from adapters.agent_console.agents import AgentError

    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        _with_store(settings, lambda store: store.add(name, password))
    except AgentError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    click.echo(f"agent {name} can now sign in at /agent")


@command.command("list")
@click.pass_context
def list_agents(ctx: click.Context) -> None:
    """The agents, one per line."""
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    names = _with_store(settings, lambda store: store.names())
    for name in names:
        click.echo(name)
    click.echo(f"{len(names)} agent(s)")


@command.command("remove")
@click.argument("name")
@click.pass_context
def remove(ctx: click.Context, name: str) -> None:
    """Delete agent NAME; their open sessions end at once."""
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    if not _with_store(settings, lambda store: store.remove(name)):
        click.echo(f"error: no agent {name}", err=True)
        sys.exit(1)
    click.echo(f"agent {name} removed")
