"""The ``bot`` command. Each sub-command lives in its own module here."""

from __future__ import annotations

import click

from service.cli import agents, chat, config_check, nlu_cmds, records_cmds, serve, test_cmd, tickets
from service.cli.group import BotGroup


@click.group(cls=BotGroup)
@click.option(
    "--config",
    "config_dir",
    envvar="BOT_CONFIG",
    type=click.Path(file_okay=False),
    help="Directory of your bot's configuration (default: the bundled bot).",
)
@click.option(
    "--data-dir",
    envvar="BOT_DATA_DIR",
    type=click.Path(file_okay=False),
    help="Where runtime data goes: embedded Redis, trained models.",
)
@click.pass_context
def main(ctx: click.Context, config_dir: str | None, data_dir: str | None) -> None:
    """Customer-service bot for WeChat, DingTalk, Slack and web chat."""
    ctx.obj = {"config_dir": config_dir, "data_dir": data_dir}


for _module in (serve, chat, config_check, test_cmd, tickets, agents):
    main.add_command(_module.command)
for _command in (nlu_cmds.train, nlu_cmds.evaluate, nlu_cmds.reload):
    main.add_command(_command)
for _command in (records_cmds.report, records_cmds.export_misses, records_cmds.transcript):
    main.add_command(_command)
