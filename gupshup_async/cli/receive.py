"""``gupshup-async receive``: the webhook receiver under uvicorn."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from pathlib import Path

import click

from gupshup_async.cli._common import (
    EXIT_FAILED,
    Done,
    fail,
    location,
    printable,
    secret_from_file,
    secret_option,
)
from gupshup_async.cli._group import cli
from gupshup_async.receiver import LogThrottle, Receiver
from gupshup_async.stores import open_window_store


@cli.command()
@click.option(
    "--journal",
    "--store",
    "journal",
    envvar="GUPSHUP_JOURNAL",
    required=True,
    callback=location,
    help="Where statuses are recorded against what campaigns sent: a campaign's journal "
    "file, or a postgresql:// URL every receiver and campaign of a fleet shares. Or "
    "GUPSHUP_JOURNAL.",
)
@click.option(
    "--secret",
    envvar="GUPSHUP_HOOK_SECRET",
    callback=secret_option,
    help="Better GUPSHUP_HOOK_SECRET: the header value set in the subscription's meta.",
)
@secret_from_file("secret", "--secret", "GUPSHUP_HOOK_SECRET")
@click.option("--header", default="X-Hook-Secret", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--windows",
    "windows_file",
    envvar="GUPSHUP_WINDOWS",
    callback=location,
    help="A window store to keep (a file, or a postgresql:// URL; or GUPSHUP_WINDOWS): who "
    "wrote when, whose window a 131047 showed closed.",
)
def receive(
    journal: Path | str,
    secret: str,
    header: str,
    host: str,
    port: int,
    windows_file: Path | str | None,
) -> None:
    """Receive Gupshup's callbacks (any path) and record statuses in JOURNAL (a file, or a
    database every receiver of a fleet shares).
    """
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on how it was installed
        raise click.UsageError("receive needs uvicorn: pip install uvicorn") from None
    # The socket is ours, bound before anything is said: a port in use is one line, exit 1.
    try:
        listening = socket.create_server((host, port), backlog=2048)
    except OSError as busy:
        reason = os.strerror(busy.errno) if busy.errno else str(busy)
        fail(f"error: cannot listen on {host}:{port}: {reason}")
        raise Done(EXIT_FAILED) from None
    # A database that cannot be reached is one line, exit 1, before anything listens.
    windows = open_window_store(windows_file) if windows_file is not None else None
    app = Receiver(secret, store=str(journal), header=header, windows=windows)
    bound = listening.getsockname()[1]
    click.echo(f"receiving on http://{host}:{bound}, recording in {printable(journal)}", err=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        # Under abuse: idle connections go after 5 s, and past 1,000 open connections new
        # ones are answered 503 at once (Gupshup retries), so slow or half-open clients cannot
        # stop the callbacks.
        timeout_keep_alive=5,
        limit_concurrency=1000,
    )
    # A flood of bad requests is a line every 10 s per kind, with a count, not a full disk.
    throttle = LogThrottle()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).addFilter(throttle)
    with contextlib.suppress(KeyboardInterrupt), listening:
        uvicorn.Server(config).run(sockets=[listening])
