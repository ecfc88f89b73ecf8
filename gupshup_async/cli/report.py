"""``gupshup-async report``: what the statuses say of a campaign's messages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from gupshup_async.cli._group import cli
from gupshup_async.stores import DeliveryReport, read_report
from gupshup_async.stores._postgres import is_database


@cli.command()
@click.argument("journals", nargs=-1)
@click.option(
    "--campaign",
    help="The campaign's name, for a journal in a database (which holds many): its shards "
    "are reported together.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(journals: tuple[str, ...], campaign: str | None, as_json: bool) -> None:
    """What became of a campaign's messages: delivered, read, failed and why. Give every
    shard's journal file to see the campaign whole, or the database (a postgresql:// URL, or
    GUPSHUP_JOURNAL) and --campaign.
    """
    given = journals or tuple(filter(None, [os.environ.get("GUPSHUP_JOURNAL")]))
    if not given:
        raise click.UsageError("give the campaign's journal files, or its database's URL")
    found = DeliveryReport.merge([_report_of(journal, campaign) for journal in given])
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    table = Table("", "", title=f"Campaign {found.campaign}", show_header=False)
    table.add_row("accepted by Gupshup", str(found.accepted))
    for status in ("enqueued", "sent", "delivered", "read", "failed"):
        table.add_row(f"  latest status: {status}", str(found.by_status.get(status, 0)))
    table.add_row("  no status yet", str(found.without_status))
    table.add_row("no answer, a status showed it sent (confirmed)", str(found.confirmed))
    table.add_row("sent twice, as statuses show (duplicated)", str(found.duplicated))
    table.add_row("may have gone, no status yet (uncertain)", str(found.uncertain))
    table.add_row("  of which for over 10 minutes (unconfirmed)", str(found.unconfirmed))
    for category, (count, billable) in sorted(found.by_category.items()):
        table.add_row(f"pricing: {category}", f"{count} messages, {billable} billable")
    if found.status_latency is not None:
        median, p95 = found.status_latency
        table.add_row("first status after (median / 95%)", f"{median:.2f} s / {p95:.2f} s")
    out = Console()
    out.print(table)
    for failure in found.to_json()["failed"]:
        meaning = failure["meaning"] or "unknown code"
        todo = f": {failure['what_to_do']}" if failure["what_to_do"] else ""
        out.print(f"failed {failure['count']}x with {failure['code']} ({meaning}){todo}")


def _report_of(journal: str, campaign: str | None) -> DeliveryReport:
    """Read-only: never creates or changes a file, nor a campaign in a database."""
    if is_database(journal):
        if campaign is None:
            raise click.UsageError("a database holds many campaigns: give --campaign NAME")
    elif not Path(journal).is_file():
        raise click.BadParameter(f"{journal}: no such file", param_hint="JOURNALS")
    return read_report(journal, campaign)
