"""``gupshup-async templates``: what each of the app's templates takes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from gupshup_async.cli._common import credentials, fail, make_client, writable
from gupshup_async.cli._group import cli
from gupshup_async.template_definitions import TemplateDefinitions


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the definitions as JSON.")
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=writable,
    help="Write the definitions to FILE, for --templates FILE (offline checks, tests).",
)
@credentials
def templates(as_json: bool, save: Path | None, **connection: Any) -> None:
    """List the app's templates as Gupshup has them: what each one takes."""
    found = asyncio.run(_fetch_templates(connection))
    document = json.dumps(found.to_json(), indent=2, ensure_ascii=False)
    if save is not None:
        save.write_text(document + "\n", encoding="utf-8")
        click.echo(f"{len(found)} templates written to {save}", err=True)
    if as_json:
        click.echo(document)
        return
    if save is not None:
        return
    table = Table(
        "name", "language", "status", "header", "body", "buttons", "cards", title="Templates"
    )
    for definition in sorted(found, key=lambda d: (d.name, d.language)):
        body = ", ".join(f"{{{{{p}}}}}" for p in definition.body_placeholders) or "-"
        buttons = ", ".join(
            f"{i}: {b.kind}{' (takes a parameter)' if b.needs_parameter else ''}"
            for i, b in enumerate(definition.buttons)
        )
        table.add_row(
            definition.name,
            definition.language,
            definition.status,
            definition.header or "-",
            body,
            buttons or "-",
            "?" if definition.cards is None else str(len(definition.cards) or "-"),
        )
    Console().print(table)
    if found.unreadable:
        fail(f"note: not read (left unchecked): {', '.join(sorted(found.unreadable))}")


async def _fetch_templates(connection: dict[str, Any]) -> TemplateDefinitions:
    async with make_client(**connection) as client:
        return await client.fetch_templates()
