"""``bot tickets``: list escalation tickets."""

from __future__ import annotations

import asyncio
import time

import click

from bot.escalation.tickets import STATUSES, Ticket, TicketStore
from bot.keys import Keys
from bot.redis_conn import connect
from service.cli.common import settings_from


@click.command("tickets")
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets in this status.")
@click.pass_context
def command(ctx: click.Context, status: str | None) -> None:
    """List tickets, newest first: id, status, agent, platform, reason, age."""
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")

    async def load() -> list[Ticket]:
        handle = connect(
            redis_url=settings.redis_url, data_dir=settings.data_dir, cluster=settings.redis_cluster
        )
        try:
            return await TicketStore(handle.client, Keys(settings.redis_prefix)).all(status)
        finally:
            await handle.close()

    tickets = asyncio.run(load())
    click.echo(f"{'id':<10} {'status':<9} {'agent':<12} {'platform':<9} {'reason':<14} age")
    for t in tickets:
        age = int((time.time() - t.created_at) / 60)
        click.echo(
            f"{t.id:<10} {t.status:<9} {t.agent_name or '-':<12} {t.address['platform']:<9} "
            f"{t.reason:<14} {age} min"
        )
    click.echo(f"{len(tickets)} ticket(s)")
