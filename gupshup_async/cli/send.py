"""``gupshup-async send``: one message to one recipient."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from gupshup_async.cli._common import (
    credentials,
    fail,
    instead_template,
    make_client,
    window_options,
    windows_and_templates,
)
from gupshup_async.cli._group import cli
from gupshup_async.errors import ValidationError
from gupshup_async.messages import (
    ButtonMessage,
    Message,
    ReplyButton,
    TemplateMessage,
    parse_message,
)
from gupshup_async.results import SendResult


def _button(value: str) -> ReplyButton:
    button_id, sep, title = value.partition(":")
    if not sep:
        raise click.BadParameter(f"{value!r} is not ID:TITLE", param_hint="--button")
    return ReplyButton(button_id, title)


@cli.command()
@click.option("--to", required=True, help="The recipient's phone number.")
@click.option(
    "--message",
    "message_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file: an interactive or template object, or a whole request body with one.",
)
@click.option("--body", help="Body text of a reply-button message.")
@click.option("--button", "buttons", multiple=True, help="A reply button, ID:TITLE (repeat).")
@click.option("--header", help="Text header of a reply-button message.")
@click.option("--footer", help="Footer of a reply-button message.")
@windows_and_templates
@credentials
def send(
    to: str,
    message_file: Path | None,
    body: str | None,
    buttons: tuple[str, ...],
    header: str | None,
    footer: str | None,
    windows_file: Path | None,
    outside_window: str,
    instead_file: Path | None,
    templates_source: str | None,
    **connection: Any,
) -> None:
    """Send one message and print its message id."""
    message = _message_from(message_file, body, buttons, header, footer)
    filled = instead_template(instead_file, outside_window)
    instead = filled.render({}) if filled is not None else None
    if isinstance(instead, ValidationError):
        raise click.BadParameter(f"{instead_file}: {instead}", param_hint="--template-instead")
    assert instead is None or isinstance(instead, TemplateMessage)
    connection.update(window_options(windows_file, outside_window, instead, templates_source))
    result = asyncio.run(_send_one(connection, to, message))
    click.echo(result.message_id)
    if result.sent_instead is not None:
        fail("note: the 24-hour window was not open: the template was sent instead")
    if result.ambiguous_attempts:
        fail(
            "note: an earlier attempt may have been delivered too: the recipient may have it twice"
        )


def _message_from(
    message_file: Path | None,
    body: str | None,
    buttons: tuple[str, ...],
    header: str | None,
    footer: str | None,
) -> Message:
    if message_file is not None:
        if body is not None or buttons:
            raise click.UsageError("give --message or --body/--button, not both")
        try:
            document = json.loads(message_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as bad:
            raise click.BadParameter(f"{message_file}: {bad}", param_hint="--message") from None
        return parse_message(document)
    if body is None or not buttons:
        raise click.UsageError("give --message FILE.json, or --body and at least one --button")
    return ButtonMessage(body, [_button(b) for b in buttons], header=header, footer=footer)


async def _send_one(connection: dict[str, Any], to: str, message: Message) -> SendResult:
    async with make_client(**connection) as client:
        return await client.send(to, message)
