"""The command line: ``gupshup-async demo | send | bulk | sandbox`` (click for arguments, rich for
progress and tables; both come with the ``cli`` extra).
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    import click
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table
except ImportError as missing:  # pragma: no cover - depends on how it was installed
    raise SystemExit(
        f"gupshup-async: the command line needs the 'cli' extra ({missing.name} is missing): "
        "pip install 'gupshup-async[cli]'"
    ) from None

from gupshup_async import __version__
from gupshup_async._examples import EXAMPLES
from gupshup_async.client import DEFAULT_BASE_URL, GupshupClient, SendHooks
from gupshup_async.errors import APIError, GupshupError, ValidationError
from gupshup_async.journal import Journal
from gupshup_async.messages import ButtonMessage, Message, ReplyButton, parse_interactive
from gupshup_async.policy import RetryPolicy
from gupshup_async.ratelimit import RateLimit
from gupshup_async.results import BulkStats, Outcome, SendResult
from gupshup_async.sandbox import Faults, Sandbox
from gupshup_async.templates import MessageTemplate, read_rows, template_items

__all__ = ["cli", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """The entry point: one line on stderr for any error, never a traceback."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="gupshup-async",
            standalone_mode=False,
        )
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        _fail("interrupted")
        return 130
    except click.ClickException as problem:
        ctx = getattr(problem, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _fail(f"error: {problem.format_message()}{hint}")
        return problem.exit_code
    except GupshupError as failure:
        _fail(_describe(failure))
        return 1
    return 0


def _fail(message: str) -> None:
    # click.echo, not rich: one line, never wrapped or marked up.
    click.echo(f"gupshup-async: {' '.join(message.split())}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gupshup-async")
def cli() -> None:
    """Send WhatsApp interactive messages through Gupshup's Partner API v3."""


# demo -------------------------------------------------------------------------------------


@cli.command()
@click.option("--messages", default=3000, show_default=True, help="How many to send in bulk.")
@click.option("--rate", default=500.0, show_default=True, help="Client rate limit, per second.")
@click.option(
    "--fail-rate",
    default=0.05,
    show_default=True,
    type=click.FloatRange(0, 0.5),
    help="Share of requests the sandbox fails on purpose.",
)
@click.option("--concurrency", default=64, show_default=True, type=click.IntRange(1, 1000))
@click.option("--seed", default=7, show_default=True, help="Seed of the sandbox's faults.")
def demo(messages: int, rate: float, fail_rate: float, concurrency: int, seed: int) -> None:
    """Send one message of every type, then a bulk, to a local sandbox with faults on.

    No credentials and no network beyond 127.0.0.1.
    """
    asyncio.run(_demo(messages, rate, fail_rate, concurrency, seed))


class _Tally(SendHooks):
    def __init__(self) -> None:
        self.retries: collections.Counter[str] = collections.Counter()

    def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
        self.retries[_reason(error)] += 1


async def _demo(total: int, rate: float, fail_rate: float, concurrency: int, seed: int) -> None:
    out = Console()
    faults = Faults(
        unavailable=fail_rate * 0.4,
        rate_limited=fail_rate * 0.2,
        drop_before=fail_rate * 0.1,
        error_after=fail_rate * 0.1,
        slow=fail_rate * 0.2,
        slow_seconds=0.2,
    )
    tally = _Tally()
    retry = RetryPolicy(initial_delay=0.05, max_delay=1.0)
    async with Sandbox(faults=faults, seed=seed) as sandbox:
        out.print(f"Sandbox at [bold]{sandbox.base_url}[/] with {fail_rate:.0%} faults\n")
        async with GupshupClient(
            sandbox.app_id,
            sandbox.token,
            base_url=sandbox.base_url,
            rate_limit=RateLimit(rate),
            retry=retry,
            hooks=tally,
            max_connections=concurrency,
        ) as client:
            table = Table("type", "message id", "attempts", title="One of every type")
            for kind, message in EXAMPLES.items():
                result = await client.send("+91 98765 43210", message)
                table.add_row(kind, result.message_id, str(result.attempts))
            out.print(table)
            summary = await _bulk(client, total, concurrency, out)
    _print_summary(out, summary, tally, sandbox)


async def _bulk(
    client: GupshupClient, total: int, concurrency: int, out: Console
) -> dict[str, Any]:
    message = ButtonMessage(
        "Your order has shipped. How was the delivery?",
        [("good", "Great"), ("bad", "Not great")],
        footer="Reply any time",
    )
    items = ((f"+9170{i:08d}", message) for i in range(total))  # "9170…": the bulk's own numbers
    failures: collections.Counter[str] = collections.Counter()
    progress = Progress(
        TextColumn("bulk"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.0f}/s"),
        TimeElapsedColumn(),
        console=out,
    )
    with progress:
        task = progress.add_task("bulk", total=total, rate=0.0)
        async with client.send_many(items, concurrency=concurrency) as run:
            async for outcome in run:
                if outcome.error is not None:
                    failures[_reason(outcome.error)] += 1
                progress.update(task, completed=run.stats.done, rate=run.stats.rate)
    return {"stats": run.stats, "failures": failures}


def _print_summary(out: Console, summary: dict[str, Any], tally: _Tally, sandbox: Sandbox) -> None:
    stats: BulkStats = summary["stats"]
    failures: collections.Counter[str] = summary["failures"]
    table = Table("", "", title="Bulk summary", show_header=False)
    table.add_row("sent", str(stats.ok))
    table.add_row("failed", str(stats.failed))
    table.add_row("retries", str(sum(tally.retries.values())))
    table.add_row("rate achieved", f"{stats.rate:.0f} messages/s")
    table.add_row("maybe twice (ambiguous retries)", str(stats.ambiguous))
    table.add_row("processed by the sandbox", str(len(sandbox.account.processed)))
    bulk = [items for to, items in sandbox.account.by_recipient().items() if to.startswith("9170")]
    table.add_row("bulk recipients processed twice", str(sum(len(items) > 1 for items in bulk)))
    for reason, count in sorted(tally.retries.items()):
        table.add_row(f"retried after {reason}", str(count))
    for reason, count in sorted(failures.items()):
        table.add_row(f"failed: {reason}", str(count))
    out.print(table)


# send -------------------------------------------------------------------------------------


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
    help="A JSON file: an interactive object, or a whole request body with one.",
)
@click.option("--body", help="Body text of a reply-button message.")
@click.option("--button", "buttons", multiple=True, help="A reply button, ID:TITLE (repeat).")
@click.option("--header", help="Text header of a reply-button message.")
@click.option("--footer", help="Footer of a reply-button message.")
@click.option("--app-id", envvar="GUPSHUP_APP_ID", required=True, help="Or GUPSHUP_APP_ID.")
@click.option("--token", envvar="GUPSHUP_APP_TOKEN", required=True, help="Or GUPSHUP_APP_TOKEN.")
@click.option("--base-url", envvar="GUPSHUP_BASE_URL", default=DEFAULT_BASE_URL, show_default=True)
def send(
    to: str,
    message_file: Path | None,
    body: str | None,
    buttons: tuple[str, ...],
    header: str | None,
    footer: str | None,
    app_id: str,
    token: str,
    base_url: str,
) -> None:
    """Send one message and print its message id."""
    message = _message_from(message_file, body, buttons, header, footer)
    result = asyncio.run(_send_one(app_id, token, base_url, to, message))
    click.echo(result.message_id)


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
        if isinstance(document, dict) and "interactive" in document:
            document = document["interactive"]
        return parse_interactive(document)
    if body is None or not buttons:
        raise click.UsageError("give --message FILE.json, or --body and at least one --button")
    return ButtonMessage(body, [_button(b) for b in buttons], header=header, footer=footer)


async def _send_one(
    app_id: str, token: str, base_url: str, to: str, message: Message
) -> SendResult:
    async with GupshupClient(app_id, token, base_url=base_url) as client:
        return await client.send(to, message)


# bulk -------------------------------------------------------------------------------------


@cli.command()
@click.argument("recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--message",
    "template_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON template; {column} placeholders are filled from each row.",
)
@click.option("--rate", default=10.0, show_default=True, help="Requests per second.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite journal for resuming (default: RECIPIENTS.journal.db).",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Results, JSON lines.")
@click.option("--retry-failed", is_flag=True, help="Send again what failed in an earlier run.")
@click.option(
    "--resend-ambiguous",
    is_flag=True,
    help="Send again what was in flight when an earlier run stopped (may duplicate).",
)
@click.option("--app-id", envvar="GUPSHUP_APP_ID", required=True, help="Or GUPSHUP_APP_ID.")
@click.option("--token", envvar="GUPSHUP_APP_TOKEN", required=True, help="Or GUPSHUP_APP_TOKEN.")
@click.option("--base-url", envvar="GUPSHUP_BASE_URL", default=DEFAULT_BASE_URL, show_default=True)
def bulk(
    recipients: Path,
    template_file: Path,
    rate: float,
    concurrency: int,
    journal: Path | None,
    out: Path | None,
    retry_failed: bool,
    resend_ambiguous: bool,
    app_id: str,
    token: str,
    base_url: str,
) -> None:
    """Send a templated message to every row of RECIPIENTS (.csv or .jsonl).

    Run the same command again to resume: what was sent is skipped.
    """
    try:
        template = MessageTemplate.load(template_file)
    except (OSError, ValueError) as bad:
        raise click.BadParameter(f"{template_file}: {bad}", param_hint="--message") from None
    journal = journal or recipients.with_name(recipients.name + ".journal.db")
    total = _count_rows(recipients)
    book = Journal(journal, retry_failed=retry_failed, resend_ambiguous=resend_ambiguous)
    items = template_items(template, read_rows(recipients))
    out_file = out.open("w", encoding="utf-8") if out is not None else None
    try:
        stats = asyncio.run(
            _bulk_run(app_id, token, base_url, rate, concurrency, items, book, total, out_file)
        )
    except KeyboardInterrupt:
        _fail(f"interrupted; run the same command again to resume (journal: {journal})")
        raise SystemExit(130) from None
    finally:
        if out_file is not None:
            out_file.close()
    _bulk_summary(Console(), stats, journal)
    if stats.failed:
        raise SystemExit(1)


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if path.suffix.lower() == ".csv" else lines


async def _bulk_run(
    app_id: str,
    token: str,
    base_url: str,
    rate: float,
    concurrency: int,
    items: Any,
    journal: Journal,
    total: int,
    out_file: Any,
) -> BulkStats:
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f}/s ok {task.fields[ok]} failed {task.fields[failed]}"),
        TimeRemainingColumn(),
        console=console,
    )
    async with GupshupClient(
        app_id, token, base_url=base_url, rate_limit=RateLimit(rate), max_connections=concurrency
    ) as client:
        run = client.send_many(items, concurrency=concurrency, journal=journal)
        with progress:
            task = progress.add_task("bulk", total=total, rate=0.0, ok=0, failed=0)
            async with run:
                async for outcome in run:
                    if out_file is not None:
                        out_file.write(json.dumps(_outcome_json(outcome)) + "\n")
                    stats = run.stats
                    progress.update(
                        task,
                        completed=stats.done,
                        rate=stats.rate,
                        ok=stats.ok,
                        failed=stats.failed,
                    )
        return run.stats


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    result, error = outcome.result, outcome.error
    return {
        "key": outcome.key,
        "to": outcome.to,
        "ok": outcome.ok,
        "skipped": outcome.skipped,
        "message_id": result.message_id if result is not None else None,
        "attempts": outcome.attempts,
        "error": None if error is None else f"{type(error).__name__}: {error}",
        "ambiguous": bool(error is not None and error.ambiguous),
    }


def _bulk_summary(out: Console, stats: BulkStats, journal: Path) -> None:
    table = Table("", "", title="Bulk summary", show_header=False)
    for label, value in (
        ("items", stats.done),
        ("sent", stats.ok - stats.already_sent),
        ("sent in an earlier run (skipped)", stats.already_sent),
        ("failed", stats.failed),
        ("retries", stats.retried),
        ("may have gone twice or not at all", stats.ambiguous),
    ):
        table.add_row(label, str(value))
    table.add_row("rate achieved", f"{stats.rate:.1f} items/s")
    table.add_row("journal", str(journal))
    out.print(table)


# sandbox ----------------------------------------------------------------------------------


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
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--app",
    "apps",
    multiple=True,
    help="APP_ID:TOKEN of an app it knows (repeat); default sandbox-app:sandbox-token-0000.",
)
def sandbox_command(
    host: str,
    port: int,
    rate: float | None,
    retry_after: float | None,
    fail_rate: float,
    seed: int,
    apps: tuple[str, ...],
) -> None:
    """Run the local Gupshup look-alike until interrupted."""
    known = dict(_app(a) for a in apps) or None
    faults = Faults(
        unavailable=fail_rate * 0.4,
        rate_limited=fail_rate * 0.2,
        drop_before=fail_rate * 0.2,
        error_after=fail_rate * 0.2,
    )
    server = Sandbox(
        host=host,
        port=port,
        apps=known,
        rate=rate,
        retry_after=retry_after,
        faults=faults,
        seed=seed,
    )
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        click.echo("sandbox stopped", err=True)


def _app(value: str) -> tuple[str, str]:
    app_id, sep, token = value.partition(":")
    if not sep or not app_id or not token:
        raise click.BadParameter(f"{value!r} is not APP_ID:TOKEN", param_hint="--app")
    return app_id, token


async def _serve(server: Sandbox) -> None:
    async with server:
        click.echo(f"sandbox listening on {server.base_url}", err=False)
        apps = ", ".join(server.rules.apps)
        click.echo(f"apps: {apps}; POST /partner/app/<app>/v3/message, GET /sandbox/account")
        sys.stdout.flush()
        await asyncio.Event().wait()


# helpers ----------------------------------------------------------------------------------


def _reason(error: GupshupError) -> str:
    if isinstance(error, APIError):
        return f"{type(error).__name__} {error.status_code}"
    return type(error).__name__


def _describe(failure: GupshupError) -> str:
    if isinstance(failure, ValidationError):
        problems = "; ".join(str(p) for p in failure.errors)
        return f"refused before sending: {problems}"
    attempts = f" after {failure.attempts} attempt(s)" if failure.attempts > 1 else ""
    return f"send failed{attempts}: {type(failure).__name__}: {failure}"
