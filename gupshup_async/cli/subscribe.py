"""``gupshup-async subscribe``: point the app's webhook at a receiver, list or remove them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import attrs
import click
from rich.console import Console
from rich.table import Table

from gupshup_async.cli._common import credentials, make_client, secret_from_file, secret_option
from gupshup_async.cli._group import cli
from gupshup_async.subscriptions import DEFAULT_MODES, Subscription


@cli.command()
@click.option("--url", help="The receiver's URL (https://your-host/hooks/gupshup).")
@click.option(
    "--secret",
    envvar="GUPSHUP_HOOK_SECRET",
    callback=secret_option,
    help="Better GUPSHUP_HOOK_SECRET: sent in --header with every callback; the receiver "
    "checks it.",
)
@secret_from_file(
    "secret",
    "--secret",
    "GUPSHUP_HOOK_SECRET",
    otherwise=lambda given: "" if given.get("url") is None else None,
)
@click.option("--header", default="X-Hook-Secret", show_default=True)
@click.option("--tag", default="gupshup-async", show_default=True, help="Unique per app.")
@click.option(
    "--modes",
    default=",".join(DEFAULT_MODES),
    show_default=True,
    help="The events to send, comma-separated.",
)
@click.option("--list", "listing", is_flag=True, help="List the app's subscriptions.")
@click.option("--remove", "remove_id", help="Remove the subscription with this id.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@credentials
def subscribe(
    url: str | None,
    secret: str,
    header: str,
    tag: str,
    modes: str,
    listing: bool,
    remove_id: str | None,
    as_json: bool,
    **connection: Any,
) -> None:
    """Set the app's webhook (version 3, the format `gupshup-async receive` reads) to --url,
    with the secret header every callback carries; or --list, or --remove ID.
    """
    chosen = sum((url is not None, listing, remove_id is not None))
    if chosen != 1:
        raise click.UsageError("give one of --url, --list or --remove ID")
    if listing:
        found = asyncio.run(_list(connection))
        if as_json:
            click.echo(json.dumps([attrs.asdict(s) for s in found], indent=2))
            return
        table = Table("id", "url", "tag", "version", "active", "modes", title="Subscriptions")
        for s in found:
            table.add_row(
                s.id, s.url, s.tag or "-", str(s.version), str(s.active), ",".join(s.modes)
            )
        Console().print(table)
        return
    if remove_id is not None:
        asyncio.run(_remove(connection, remove_id))
        click.echo(json.dumps({"removed": remove_id}) if as_json else f"removed {remove_id}")
        return
    assert url is not None
    chosen_modes = [m.strip().upper() for m in modes.split(",") if m.strip()]
    made = asyncio.run(_subscribe(connection, url, secret, header, tag, chosen_modes))
    if as_json:
        click.echo(json.dumps(attrs.asdict(made), indent=2))
    else:
        click.echo(f"subscribed {made.id}: {made.url} (version {made.version}, tag {made.tag})")


async def _subscribe(
    connection: dict[str, Any], url: str, secret: str, header: str, tag: str, modes: list[str]
) -> Subscription:
    async with make_client(**connection) as client:
        return await client.subscribe(url, secret=secret, header=header, tag=tag, modes=modes)


async def _list(connection: dict[str, Any]) -> list[Subscription]:
    async with make_client(**connection) as client:
        return await client.subscriptions()


async def _remove(connection: dict[str, Any], subscription_id: str) -> None:
    async with make_client(**connection) as client:
        await client.unsubscribe(subscription_id)
