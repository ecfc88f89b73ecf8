"""``gupshup-async send``: one message to one recipient."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from gupshup_async.cli._common import (
    EXIT_FAILED,
    Done,
    credentials,
    describe,
    fail,
    instead_template,
    make_client,
    window_options,
    windows_and_templates,
)
from gupshup_async.cli._group import cli
from gupshup_async.errors import GupshupError, ValidationError
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
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the failure) as JSON.")
@windows_and_templates
@credentials
def send(
    to: str,
    message_file: Path | None,
    body: str | None,
    buttons: tuple[str, ...],
    header: str | None,
    footer: str | None,
    as_json: bool,
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
    if not as_json:
        result = asyncio.run(_send_one(connection, to, message))
        click.echo(result.message_id)
    else:
        try:
            result = asyncio.run(_send_one(connection, to, message))
        except GupshupError as failure:
            click.echo(json.dumps(_failure_json(failure), indent=2))
            raise Done(EXIT_FAILED) from None
        click.echo(json.dumps(_result_json(result), indent=2))
    if result.sent_instead is not None:
        fail("note: the 24-hour window was not open: the template was sent instead")
    if result.ambiguous_attempts:
        fail(
            "note: an earlier attempt may have been delivered too: the recipient may have it twice"
        )


def _result_json(result: SendResult) -> dict[str, Any]:
    return {
        "ok": True,
        "to": result.to,
        "message_id": result.message_id,
        "wa_id": result.wa_id,
        "user_id": result.user_id,
        "attempts": result.attempts,
        "may_have_gone_twice": bool(result.ambiguous_attempts),
        "sent_template_instead": result.sent_instead is not None,
    }


def _failure_json(failure: GupshupError) -> dict[str, Any]:
    return {
        "ok": False,
        "error": type(failure).__name__,
        "reason": describe(failure),
        "attempts": failure.attempts,
        "may_have_been_delivered": bool(failure.ambiguous or failure.ambiguous_attempts),
        "sent_nothing": failure.attempts == 0,
    }


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
