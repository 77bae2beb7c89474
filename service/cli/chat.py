"""``bot chat``: talk to the bot in the terminal, through the whole pipeline."""

from __future__ import annotations

import asyncio
import getpass
import sys

import click

from adapters.console import console_message
from bot.settings import Settings
from service.bootstrap import build_runtime
from service.cli.common import settings_from


@click.command("chat")
@click.option("--user", default=None, help="User id to chat as (default: your login name).")
@click.pass_context
def command(ctx: click.Context, user: str | None) -> None:
    """Chat with the bot. Without a TTY, reads one message per line and prints each reply."""
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    asyncio.run(_chat(settings, user or getpass.getuser()))


async def _chat(settings: Settings, user: str) -> None:
    # a chat is short: a fine-tuning child would slow its replies, then be stopped with it
    quick = settings.model_copy(update={"fine_tune_after_warm_up": False})
    runtime = build_runtime(quick, console_write=lambda line: print(line, flush=True))
    await runtime.start()
    if runtime.nlu is not None and not await runtime.nlu.ready():
        print("warming up: training the intent model (a minute or two)…", file=sys.stderr)
        await runtime.nlu.wait_ready()
    interactive = sys.stdin.isatty()
    try:
        while True:
            line = await asyncio.to_thread(_read_line, interactive)
            line = line.rstrip("\r\n") if line is not None else None
            if line is None:
                break
            if not line.strip():
                continue
            turn = await runtime.pipeline.handle(console_message(line, user=user), runtime.outbound)
            if turn.outcome.retry_helps:
                print(f"[{turn.outcome.value}: {turn.detail}]", file=sys.stderr, flush=True)
    finally:
        await runtime.stop()


def _read_line(interactive: bool) -> str | None:
    try:
        return input("> ") if interactive else sys.stdin.readline() or None
    except EOFError:
        return None
