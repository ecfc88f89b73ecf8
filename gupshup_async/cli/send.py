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
    AudioMessage,
    ButtonMessage,
    DocumentMessage,
    ImageMessage,
    Message,
    ReplyButton,
    StickerMessage,
    TemplateMessage,
    TextMessage,
    VideoMessage,
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
@click.option("--text", help="Send a text message (up to 4,096 characters).")
@click.option("--preview-url", is_flag=True, help="With --text: show a preview of its link.")
@click.option("--image", help="Send an image: an http(s) link, or the id of uploaded media.")
@click.option("--video", help="Send a video: a link or a media id.")
@click.option("--audio", help="Send an audio (an OGG/OPUS file plays as a voice note).")
@click.option("--document", help="Send a document: a link or a media id.")
@click.option("--sticker", help="Send a sticker (WebP): a link or a media id.")
@click.option("--caption", help="Caption of an image, video or document.")
@click.option("--filename", help="File name a document is shown and saved under.")
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
    text: str | None,
    preview_url: bool,
    image: str | None,
    video: str | None,
    audio: str | None,
    document: str | None,
    sticker: str | None,
    caption: str | None,
    filename: str | None,
    as_json: bool,
    windows_file: Path | None,
    outside_window: str,
    instead_file: Path | None,
    templates_source: str | None,
    **connection: Any,
) -> None:
    """Send one message and print its message id: a JSON file (--message), reply buttons
    (--body, --button), a text (--text) or a media (--image, --video, --audio, --document,
    --sticker).
    """
    media = {"image": image, "video": video, "audio": audio, "document": document}
    media["sticker"] = sticker
    chosen = [name for name, value in media.items() if value is not None]
    kinds = bool(message_file) + bool(body is not None or buttons) + (text is not None)
    if kinds + len(chosen) > 1:
        raise click.UsageError(
            "give one message: --message, --body/--button, --text, or one media option"
        )
    if chosen:
        message = _media(chosen[0], str(media[chosen[0]]), caption, filename)
    elif text is not None:
        message = TextMessage(text, preview_url=True if preview_url else None)
    else:
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
        raise click.UsageError(
            "give --message FILE.json, --body and at least one --button, --text, or a media "
            "option (--image, --video, --audio, --document, --sticker)"
        )
    return ButtonMessage(body, [_button(b) for b in buttons], header=header, footer=footer)


_MEDIA = {
    "image": ImageMessage,
    "video": VideoMessage,
    "audio": AudioMessage,
    "document": DocumentMessage,
    "sticker": StickerMessage,
}


def _media(kind: str, given: str, caption: str | None, filename: str | None) -> Message:
    """A media message: ``given`` is a link when it looks like a URL (only http and https are
    taken), else a media id.
    """
    link = given if "://" in given else None
    options: dict[str, Any] = {"id": None if link is not None else given}
    if caption is not None:
        if kind in ("audio", "sticker"):
            raise click.UsageError(f"--caption: WhatsApp shows no caption on {kind} messages")
        options["caption"] = caption
    if filename is not None:
        if kind != "document":
            raise click.UsageError("--filename goes with --document only")
        options["filename"] = filename
    made: Message = _MEDIA[kind](link, **options)
    return made


async def _send_one(connection: dict[str, Any], to: str, message: Message) -> SendResult:
    async with make_client(**connection) as client:
        return await client.send(to, message)
