"""``gupshup-async sandbox``: the local Gupshup look-alike, served."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from gupshup_async.cli._common import EXIT_FAILED, Done, fail
from gupshup_async.cli._group import cli
from gupshup_async.sandbox import FAULT_KINDS, STATUS_DELAY, Faults, Sandbox
from gupshup_async.template_definitions import TemplateDefinitions


@cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--rate", type=float, help="Answer 429 above this many requests a second.")
@click.option("--retry-after", type=float, help="Send Retry-After (seconds) with each 429.")
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of requests failed on purpose (503, 429, dropped, 500 after processing).",
)
@click.option(
    "--fault",
    "fault_shares",
    multiple=True,
    metavar="KIND=SHARE",
    help="Share of requests failed with one kind of fault, in place of --fail-rate's mix "
    f"(repeat): {', '.join(FAULT_KINDS)}; e.g. error_after=0.05 (processed, then a 500).",
)
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--app",
    "apps",
    multiple=True,
    help="APP_ID:TOKEN of an app it knows (repeat); default sandbox-app:sandbox-token-0000.",
)
@click.option(
    "--templates",
    "templates_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The templates it knows (Meta's or Gupshup's shape); default: a built-in set.",
)
@click.option(
    "--windows",
    is_flag=True,
    help="Fail free-form messages to users who have not written in 24 hours (131047).",
)
@click.option(
    "--callback",
    "callback_urls",
    multiple=True,
    help="Post the status webhooks of what it accepts to this URL (a receiver: "
    "gupshup-async receive). Repeat it for several receivers: callbacks go to each in turn, "
    "as through a load balancer.",
)
@click.option(
    "--callback-header",
    "callback_headers",
    multiple=True,
    help="NAME:VALUE sent with every callback (repeat), as the subscription's meta sets "
    "(X-Hook-Secret:...).",
)
@click.option(
    "--status-delay",
    type=click.FloatRange(min=0),
    default=STATUS_DELAY,
    show_default=True,
    help="Seconds from a message processed to its first status callback, and between them.",
)
def sandbox_command(
    host: str,
    port: int,
    rate: float | None,
    retry_after: float | None,
    fail_rate: float,
    fault_shares: tuple[str, ...],
    seed: int,
    apps: tuple[str, ...],
    templates_file: Path | None,
    windows: bool,
    callback_urls: tuple[str, ...],
    callback_headers: tuple[str, ...],
    status_delay: float,
) -> None:
    """Run the local Gupshup look-alike until interrupted."""
    for callback_url in callback_urls:
        if not callback_url.startswith(("http://", "https://")):
            raise click.BadParameter(
                f"{callback_url!r} is not an http(s) URL", param_hint="--callback"
            )
    headers = dict(_header(h) for h in callback_headers)
    known = dict(_app(a) for a in apps) or None
    try:
        templates = TemplateDefinitions.load(templates_file) if templates_file else None
    except (OSError, ValueError) as bad:
        raise click.BadParameter(str(bad), param_hint="--templates") from None
    faults = Faults(
        unavailable=fail_rate * 0.4,
        rate_limited=fail_rate * 0.2,
        drop_before=fail_rate * 0.2,
        error_after=fail_rate * 0.2,
    )
    if fault_shares:
        faults = _faults(fault_shares)
    server = Sandbox(
        host=host,
        port=port,
        apps=known,
        rate=rate,
        retry_after=retry_after,
        faults=faults,
        seed=seed,
        templates=templates,
        windows=windows,
        callback_url=list(callback_urls) or None,
        callback_headers=headers,
        status_delay=status_delay,
    )
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        click.echo("sandbox stopped", err=True)
    except OSError as busy:
        fail(f"error: cannot listen on {host}:{port}: {busy.strerror or busy}")
        raise Done(EXIT_FAILED) from None


def _faults(given: tuple[str, ...]) -> Faults:
    shares: dict[str, float] = {}
    for value in given:
        kind, sep, share = value.partition("=")
        if not sep or kind not in FAULT_KINDS:
            raise click.BadParameter(
                f"{value!r} is not KIND=SHARE with KIND one of {', '.join(FAULT_KINDS)}",
                param_hint="--fault",
            )
        try:
            shares[kind] = float(share)
        except ValueError:
            raise click.BadParameter(f"{value!r}: {share!r} is not a number") from None
    try:
        return Faults(**shares)
    except ValueError as bad:
        raise click.BadParameter(str(bad), param_hint="--fault") from None


def _header(value: str) -> tuple[str, str]:
    name, sep, given = value.partition(":")
    if not sep or not name.strip() or not given.strip():
        raise click.BadParameter(f"{value!r} is not NAME:VALUE", param_hint="--callback-header")
    return name.strip(), given.strip()


def _app(value: str) -> tuple[str, str]:
    app_id, sep, token = value.partition(":")
    if not sep or not app_id or not token:
        raise click.BadParameter(f"{value!r} is not APP_ID:TOKEN", param_hint="--app")
    return app_id, token


async def _serve(server: Sandbox) -> None:
    async with server:
        click.echo(f"sandbox listening on {server.base_url}", err=False)
        apps = ", ".join(server.rules.apps)
        click.echo(
            f"apps: {apps}; POST /partner/app/<app>/v3/message, GET /partner/app/<app>/templates,"
            " GET /sandbox/account"
        )
        sys.stdout.flush()
        await asyncio.Event().wait()
