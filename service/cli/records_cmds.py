"""``bot report``, ``bot export-misses`` and ``bot transcript``: read the durable record."""

from __future__ import annotations

import asyncio
import csv
import sys
import time
from pathlib import Path

import click

from bot.pii import mask_pii
from bot.records import Record, open_store
from bot.records.report import build_report, parse_span
from bot.settings import Settings
from nlu.misses import write_misses
from service.cli.common import settings_from


async def _query(settings: Settings, **filters: object) -> list[Record]:
    store = await open_store(database_url=settings.database_url, data_dir=settings.data_dir)
    try:
        return await store.query(**filters)  # type: ignore[arg-type]
    finally:
        await store.close()


@click.command("report")
@click.option("--since", default="7d", show_default=True, help="Time span: 30m, 24h, 7d ...")
@click.option(
    "--csv", "csv_path", type=click.Path(dir_okay=False), help="Also write the rows as CSV."
)
@click.pass_context
def report(ctx: click.Context, since: str, csv_path: str | None) -> None:
    """Volumes per platform, top intents, fallback and escalation rates, ticket timings."""
    try:
        span = parse_span(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    rows = build_report(asyncio.run(_query(settings, since=time.time() - span))).rows()
    click.echo(f"{'section':<10} {'key':<28} value")
    for section, key, value in rows:
        click.echo(f"{section:<10} {key:<28} {value}")
    if csv_path:
        with Path(csv_path).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["section", "key", "value"])
            writer.writerows(rows)


@click.command("export-misses")
@click.option("--since", default="7d", show_default=True, help="Time span: 30m, 24h, 7d ...")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("misses.csv"),
    show_default=True,
)
@click.pass_context
def export_misses(ctx: click.Context, since: str, out: Path) -> None:
    """Write low-confidence and fallback messages (PII masked, counted) as a CSV for labelling."""
    try:
        span = parse_span(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    written = write_misses(asyncio.run(_query(settings, since=time.time() - span)), out)
    click.echo(f"{written} texts written to {out}")


@click.command("transcript")
@click.argument("ident")
@click.pass_context
def transcript(ctx: click.Context, ident: str) -> None:
    """Print a conversation (by conversation key or ticket id), PII masked."""
    settings = settings_from(ctx, json_logs=False, log_level="WARNING")
    records = asyncio.run(_query(settings, conversation=ident))
    if not records:
        ticket = asyncio.run(_query(settings, ticket_id=ident))
        if ticket:
            records = asyncio.run(_query(settings, conversation=ticket[0].conversation))
    if not records:
        click.echo(f"no conversation or ticket {ident!r} in the record", err=True)
        sys.exit(1)
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.ts))
        who = {"in": "customer", "out": "bot"}.get(r.kind, f"ticket:{r.event}")
        click.echo(f"{when}  {who:<16} {mask_pii(r.text)}")
