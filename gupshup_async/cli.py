"""The command line: ``gupshup-async demo | send | bulk | templates | report | receive |
sandbox`` (click for arguments, rich for progress and tables, uvicorn for ``receive``: the
``cli`` extra).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import math
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

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
from gupshup_async._examples import EXAMPLES, TEMPLATE_EXAMPLE
from gupshup_async.bulk import BulkRun
from gupshup_async.client import DEFAULT_BASE_URL, GupshupClient, SendHooks
from gupshup_async.errors import (
    WINDOW_CLOSED,
    APIError,
    EarlierOutcome,
    GupshupError,
    JournalError,
    NotAttempted,
    RowsError,
    ValidationError,
)
from gupshup_async.journal import DeliveryReport, DeliveryStore, Journal
from gupshup_async.messages import (
    ButtonMessage,
    Message,
    ReplyButton,
    TemplateMessage,
    TemplateUrlButton,
    normalize_recipient,
    parse_message,
)
from gupshup_async.policy import RetryPolicy
from gupshup_async.ratelimit import RateLimit
from gupshup_async.receiver import Receiver
from gupshup_async.redis_limiter import RedisLimiter
from gupshup_async.results import BulkStats, Outcome, SendResult
from gupshup_async.rows import (
    RowMessage,
    read_rows,
    recipient_of,
    row_items,
    scan_rows,
)
from gupshup_async.sandbox import Faults, Sandbox
from gupshup_async.templates import TemplateDefinitions
from gupshup_async.webhooks import Event, StatusUpdate
from gupshup_async.window import TemplateChoice, WindowPolicy
from gupshup_async.windows import MemoryWindowStore, SqliteWindowStore

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
    except (RowsError, JournalError) as refused:
        _fail(f"error: {refused}")
        return EXIT_USAGE
    except GupshupError as failure:
        _fail(_describe(failure))
        return EXIT_FAILED
    except _Done as done:
        return done.code
    return 0


#: Exit codes: every item sent (or sent before); some failed or were not attempted; the
#: command line or its input was wrong (nothing sent); some may have been delivered but it is
#: not known (none failed otherwise); interrupted.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_AMBIGUOUS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Done(Exception):
    """Ends a command with an exit code, its message already printed."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class _Positive(click.ParamType):  # type: ignore[type-arg]  # generic in click >= 8.2 only
    """A positive, finite number."""

    name = "number"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or number <= 0:
            self.fail(f"must be a positive number, got {value}", param, ctx)
        return number


POSITIVE = _Positive()


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise click.BadParameter("must not be empty")
    return value


def _writable(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and not value.parent.is_dir():
        raise click.BadParameter(f"{value}: the folder {value.parent} does not exist")
    return value


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    i, sep, n = value.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
        raise click.BadParameter(f"{value!r} is not I/N with 0 <= I < N (0/2, 1/2)")
    return int(i), int(n)


def _credentials(function: Any) -> Any:
    """--app-id, --token, --base-url, --timeout, --max-attempts, --at-most-once."""
    options = [
        click.option(
            "--app-id",
            envvar="GUPSHUP_APP_ID",
            required=True,
            callback=_not_empty,
            help="Or GUPSHUP_APP_ID.",
        ),
        click.option(
            "--token",
            envvar="GUPSHUP_APP_TOKEN",
            required=True,
            callback=_not_empty,
            help="Or GUPSHUP_APP_TOKEN.",
        ),
        click.option(
            "--base-url", envvar="GUPSHUP_BASE_URL", default=DEFAULT_BASE_URL, show_default=True
        ),
        click.option(
            "--timeout",
            type=POSITIVE,
            default=10.0,
            show_default=True,
            help="Seconds to wait for an answer, per attempt.",
        ),
        click.option(
            "--max-attempts",
            type=click.IntRange(1, 100),
            default=5,
            show_default=True,
            help="Attempts per message, the first included.",
        ),
        click.option(
            "--at-most-once",
            is_flag=True,
            help="Never retry a send that may have been delivered: no duplicates, some lost.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _windows_and_templates(function: Any) -> Any:
    """--windows, --outside-window, --template-instead, --templates."""
    options = [
        click.option(
            "--windows",
            "windows_file",
            type=click.Path(dir_okay=False, path_type=Path),
            callback=_writable,
            help="The window store `receive --windows` writes: who wrote in the last 24 hours.",
        ),
        click.option(
            "--outside-window",
            type=click.Choice(["send", "refuse", "template"]),
            default="send",
            show_default=True,
            help="What to do with a free-form message to a user whose 24-hour window is not "
            "known open: send it anyway, refuse it, or send --template-instead.",
        ),
        click.option(
            "--template-instead",
            "instead_file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="A template message (JSON; for bulk, {column} placeholders are filled from "
            "each row) sent in place of the message outside the window.",
        ),
        click.option(
            "--templates",
            "templates_source",
            help="Check template messages before sending against a definitions FILE (Meta's "
            "or Gupshup's shape), or 'fetch' the app's from Gupshup.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _window_options(
    windows_file: Path | None,
    outside_window: str,
    instead: TemplateChoice | None,
    templates_source: str | None,
) -> dict[str, Any]:
    """The client's window and template options, from the command line's."""
    options: dict[str, Any] = {}
    if templates_source == "fetch":
        options["templates"] = "fetch"
    elif templates_source is not None:
        try:
            options["templates"] = TemplateDefinitions.load(templates_source)
        except (OSError, ValueError) as bad:
            raise click.BadParameter(str(bad), param_hint="--templates") from None
    if outside_window == "send":
        if instead is not None:
            raise click.UsageError("--template-instead goes with --outside-window template")
        return options
    if windows_file is None:
        raise click.UsageError(
            f"--outside-window {outside_window} needs --windows: the store a receiver writes"
        )
    if outside_window == "template" and instead is None:
        raise click.UsageError("--outside-window template needs --template-instead FILE")
    options["windows"] = SqliteWindowStore(windows_file)
    options["window_policy"] = (
        WindowPolicy.refuse() if instead is None else WindowPolicy.template_instead(instead)
    )
    return options


def _template_file(path: Path | None, outside_window: str) -> RowMessage | None:
    if path is None:
        return None
    if outside_window != "template":
        raise click.UsageError("--template-instead goes with --outside-window template")
    try:
        made = RowMessage.load(path)
    except (OSError, ValueError) as bad:
        raise click.BadParameter(f"{path}: {bad}", param_hint="--template-instead") from None
    if made.root != "template":
        raise click.BadParameter(
            f"{path}: must be a template message (name, language, components)",
            param_hint="--template-instead",
        )
    return made


def _client(
    app_id: str,
    token: str,
    base_url: str,
    timeout: float,
    max_attempts: int,
    at_most_once: bool,
    **options: Any,
) -> GupshupClient:
    retry = RetryPolicy(max_attempts=max_attempts, retry_ambiguous=not at_most_once)
    timeouts = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    return GupshupClient(app_id, token, base_url=base_url, retry=retry, timeout=timeouts, **options)


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
    """Send one message of every type, then a bulk, to a local sandbox with faults on; then a
    campaign that respects the 24-hour window.

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
    secret = "demo-hook-secret"
    # Every 50th number of the bulk is undeliverable and every 40th outside the 24-hour window,
    # so the report has failures to explain.
    numbers = [f"9170{i:08d}" for i in range(total)]
    with tempfile.TemporaryDirectory() as folder:
        journal = Path(folder, "demo.journal.db")
        windows = MemoryWindowStore()
        receiver = Receiver(secret, store=str(journal), windows=windows)
        async with (
            _serving(receiver) as hook,
            Sandbox(
                faults=faults,
                seed=seed,
                callback_url=hook,
                callback_headers={"X-Hook-Secret": secret},
                undeliverable=set(numbers[::50]),
                outside_window=set(numbers[::40]) - set(numbers[::50]),
                status_delay=0.001,
            ) as sandbox,
        ):
            out.print(f"Sandbox at [bold]{sandbox.base_url}[/] with {fail_rate:.0%} faults")
            out.print(f"Receiver at [bold]{hook}[/], recording statuses\n")
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
                every = {**EXAMPLES, "template": TEMPLATE_EXAMPLE}
                for kind, message in every.items():
                    result = await client.send("+91 98765 43210", message)
                    table.add_row(kind, result.message_id, str(result.attempts))
                out.print(table)
                summary = await _bulk(client, numbers, concurrency, out, journal)
            await _settle(receiver, sandbox)
            window_table = await _window_stage(receiver, windows, hook, secret)
        _print_summary(out, summary, tally, sandbox)
        store = DeliveryStore(str(journal))
        try:
            found = store.report()
        finally:
            store.close()
    table = Table("", "", title="What the status webhooks said (the bulk)", show_header=False)
    for status, count in sorted(found.by_status.items()):
        table.add_row(f"latest status: {status}", str(count))
    for failure in found.to_json()["failed"]:
        table.add_row(f"failed {failure['code']}: {failure['meaning']}", str(failure["count"]))
    out.print(table)
    out.print(window_table)


async def _window_stage(
    receiver: Receiver, windows: MemoryWindowStore, hook: str, secret: str
) -> Table:
    """100 customers, half of whom wrote lately, on a sandbox that enforces the window: the
    interactive message inside it, the template outside, no 131047.
    """
    customers = [f"9171{i:08d}" for i in range(100)]
    closed: list[StatusUpdate] = []

    def failures(event: Event) -> None:
        if isinstance(event, StatusUpdate) and event.error_code == WINDOW_CLOSED:
            closed.append(event)

    receiver.handlers.append(failures)
    message = ButtonMessage("Your order is on its way. Track it?", [("track", "Track it")])

    def shipped(to: str, replaced: Message) -> TemplateMessage:
        order = to[-4:]
        return TemplateMessage(
            "order_shipped",
            "en",
            header=order,
            body=["there", order],
            buttons=[TemplateUrlButton(2, order)],
        )

    async with Sandbox(
        windows=True,
        callback_url=hook,
        callback_headers={"X-Hook-Secret": secret},
        statuses=("sent", "delivered"),
        status_delay=0.001,
    ) as sandbox:
        for to in customers[::2]:
            await sandbox.user_writes(to, "Is my order on its way?")
        await receiver.drain()
        async with GupshupClient(
            sandbox.app_id,
            sandbox.token,
            base_url=sandbox.base_url,
            rate_limit=None,
            windows=windows,
            window_policy=WindowPolicy.template_instead(shipped),
            templates="fetch",
        ) as client:
            outcomes = [o async for o in client.send_many((f"+{to}", message) for to in customers)]
        await _settle(receiver, sandbox)
    receiver.handlers.remove(failures)
    instead = sum(1 for o in outcomes if o.result is not None and o.result.sent_instead)
    now = time.time()
    wrote = sum(bool(windows.window(to).is_open(now)) for to in customers)
    title = "The 24-hour window (a sandbox that enforces it)"
    table = Table("", "", title=title, show_header=False)
    table.add_row("customers", str(len(customers)))
    table.add_row("wrote in the last 24 hours (seen by the receiver)", str(wrote))
    table.add_row("sent the interactive message", str(sum(o.ok for o in outcomes) - instead))
    table.add_row("sent the template instead (order_shipped)", str(instead))
    table.add_row("failed with 131047 (window closed)", str(len(closed)))
    return table


@contextlib.asynccontextmanager
async def _serving(receiver: Receiver) -> Any:
    import uvicorn

    config = uvicorn.Config(receiver, host="127.0.0.1", port=0, log_level="error")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110  (uvicorn has a flag)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hooks/gupshup"
    finally:
        server.should_exit = True
        await task


async def _settle(receiver: Receiver, sandbox: Sandbox, seconds: float = 10.0) -> None:
    """Wait for the last status callbacks to arrive and be recorded (or for ``seconds``)."""
    deadline = time.monotonic() + seconds
    expected = 0
    while time.monotonic() < deadline:
        expected = len(sandbox.account.processed)
        await asyncio.sleep(0.2)
        if receiver.stats["accepted"] >= expected * 2 and not sandbox.callbacks_pending:
            break
    await receiver.drain()


async def _bulk(
    client: GupshupClient, numbers: list[str], concurrency: int, out: Console, journal: Path
) -> dict[str, Any]:
    message = ButtonMessage(
        "Your order has shipped. How was the delivery?",
        [("good", "Great"), ("bad", "Not great")],
        footer="Reply any time",
    )
    items = ((f"+{number}", message) for number in numbers)  # "9170…": the bulk's own numbers
    total = len(numbers)
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
        async with client.send_many(items, concurrency=concurrency, journal=journal) as run:
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
    help="A JSON file: an interactive or template object, or a whole request body with one.",
)
@click.option("--body", help="Body text of a reply-button message.")
@click.option("--button", "buttons", multiple=True, help="A reply button, ID:TITLE (repeat).")
@click.option("--header", help="Text header of a reply-button message.")
@click.option("--footer", help="Footer of a reply-button message.")
@_windows_and_templates
@_credentials
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
    filled = _template_file(instead_file, outside_window)
    instead = filled.render({}) if filled is not None else None
    if isinstance(instead, ValidationError):
        raise click.BadParameter(f"{instead_file}: {instead}", param_hint="--template-instead")
    assert instead is None or isinstance(instead, TemplateMessage)
    connection.update(_window_options(windows_file, outside_window, instead, templates_source))
    result = asyncio.run(_send_one(connection, to, message))
    click.echo(result.message_id)
    if result.sent_instead is not None:
        _fail("note: the 24-hour window was not open: the template was sent instead")
    if result.ambiguous_attempts:
        _fail(
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
    async with _client(**connection) as client:
        return await client.send(to, message)


# bulk -------------------------------------------------------------------------------------


@cli.command()
@click.argument("recipients", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--message",
    "template_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A message's JSON (interactive or template); {column} placeholders are filled "
    "from each row.",
)
@click.option("--rate", type=POSITIVE, default=10.0, show_default=True, help="Requests a second.")
@click.option("--concurrency", default=32, show_default=True, type=click.IntRange(1, 1000))
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_writable,
    help="SQLite journal for resuming (default: RECIPIENTS.journal.db).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_writable,
    help="Results, a JSON line per item.",
)
@click.option("--retry-failed", is_flag=True, help="Send again what failed in an earlier run.")
@click.option(
    "--resend-ambiguous",
    is_flag=True,
    help="Send again what may have been delivered in an earlier run (may duplicate).",
)
@click.option(
    "--shard",
    callback=_shard,
    help="I/N: send only the rows whose recipient falls in shard I of N (run one per worker).",
)
@click.option(
    "--redis",
    "redis_url",
    envvar="GUPSHUP_REDIS_URL",
    help="Share the rate limit through Redis (redis://...), with every worker of the app.",
)
@_windows_and_templates
@_credentials
def bulk(
    recipients: Path,
    template_file: Path,
    rate: float,
    concurrency: int,
    journal: Path | None,
    out: Path | None,
    retry_failed: bool,
    resend_ambiguous: bool,
    shard: tuple[int, int] | None,
    redis_url: str | None,
    windows_file: Path | None,
    outside_window: str,
    instead_file: Path | None,
    templates_source: str | None,
    **connection: Any,
) -> None:
    """Send a message filled from each row of RECIPIENTS (.csv, .jsonl or .json).

    The whole file is read and checked before anything is sent. Run the same command again to
    resume: what was sent is skipped, whatever order the rows are in now.
    """
    try:
        template = RowMessage.load(template_file)
    except (OSError, ValueError) as bad:
        raise click.BadParameter(f"{template_file}: {bad}", param_hint="--message") from None
    filled = _template_file(instead_file, outside_window)
    total = scan_rows(recipients, template, *([filled] if filled is not None else []))
    instead = _PerRow(filled) if filled is not None else None
    connection.update(_window_options(windows_file, outside_window, instead, templates_source))
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard is not None else ""
    journal = journal or recipients.with_name(f"{recipients.name}{suffix}.journal.db")
    book = Journal(journal, retry_failed=retry_failed, resend_ambiguous=resend_ambiguous)
    rows = read_rows(recipients)
    items = row_items(template, rows if instead is None else instead.follow(rows))
    try:
        out_file = out.open("w", encoding="utf-8") if out is not None else None
    except OSError as bad:
        raise click.BadParameter(f"{out}: {bad.strerror}", param_hint="--out") from None
    summary = _Summary(total)
    interrupted = False
    try:
        limit = (rate, redis_url, shard)
        asyncio.run(_bulk_run(connection, limit, concurrency, items, book, summary, out_file))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if out_file is not None:
            out_file.close()
    summary.print(Console(), journal, interrupted=interrupted)
    raise _Done(summary.exit_code(interrupted))


class _PerRow:
    """``--template-instead`` for bulk: the template filled from the row of the item it
    replaces. Each row is filled as `row_items` reads it (one pass over the file); one filled
    template is kept per recipient until it is used.
    """

    def __init__(self, template: RowMessage) -> None:
        self.template = template
        self._fixed = template.render({}) if not template.placeholders else None
        self._by_recipient: dict[str, Message | ValidationError] = {}

    def follow(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            if self._fixed is None:
                with contextlib.suppress(ValidationError):
                    to = normalize_recipient(recipient_of(row))
                    self._by_recipient[to] = self.template.render(row)
            yield row

    def __call__(self, to: str, message: Message) -> TemplateMessage:
        made = self._fixed if self._fixed is not None else self._by_recipient.pop(to, None)
        if isinstance(made, ValidationError):
            raise made
        if not isinstance(made, TemplateMessage):
            raise ValidationError.at("template", f"no template instead for {to}")
        return made


async def _bulk_run(
    connection: dict[str, Any],
    limit: tuple[float, str | None, tuple[int, int] | None],
    concurrency: int,
    items: Any,
    journal: Journal,
    summary: _Summary,
    out_file: IO[str] | None,
) -> None:
    rate, redis_url, shard = limit
    limiter: RateLimit | RedisLimiter = RateLimit(rate)
    if redis_url is not None:  # the app's rate, shared with every worker
        limiter = RedisLimiter(redis_url, connection["app_id"], RateLimit(rate))
    try:
        async with _client(**connection, rate_limit=limiter, max_connections=concurrency) as client:
            run = client.send_many(items, concurrency=concurrency, journal=journal, shard=shard)
            await _follow(run, summary, out_file, counted=shard is None)
    finally:
        if isinstance(limiter, RedisLimiter):
            await limiter.aclose()


async def _follow(
    run: BulkRun, summary: _Summary, out_file: IO[str] | None, *, counted: bool
) -> None:
    """Show the run's progress, count its outcomes, write them to ``out_file``."""
    progress = Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f}/s ok {task.fields[ok]} failed {task.fields[failed]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        # A shard sends only part of the file: its total is not known ahead.
        total = summary.total if counted else None
        task = progress.add_task("bulk", total=total, rate=0.0, ok=0, failed=0)
        async with run:
            async for outcome in run:
                summary.add(outcome)
                if out_file is not None:
                    out_file.write(json.dumps(_outcome_json(outcome)) + "\n")
                stats = run.stats
                progress.update(
                    task, completed=stats.done, rate=summary.rate, ok=stats.ok, failed=stats.failed
                )


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    result, error = outcome.result, outcome.error
    return {
        "key": outcome.key,
        "to": outcome.to,
        "ok": outcome.ok,
        "skipped": outcome.skipped,
        "message_id": result.message_id if result is not None else None,
        "template_instead": (
            result.sent_instead.name
            if result is not None and isinstance(result.sent_instead, TemplateMessage)
            else None
        ),
        "attempts": outcome.attempts,
        "error": None if error is None else f"{type(error).__name__}: {error}",
        "ambiguous": bool(error is not None and error.ambiguous),
    }


class _Summary:
    """What a bulk run did, counted as outcomes come (so it survives Ctrl-C)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = time.monotonic()
        self.sent = 0
        self.sent_before = 0
        self.maybe_twice = 0
        self.as_template = 0
        self.failed: collections.Counter[str] = collections.Counter()
        self.examples: dict[str, str] = {}
        self.ambiguous = 0
        self.failed_before = 0
        self.ambiguous_before = 0
        self.not_attempted = 0
        self.stopped_by: str | None = None
        self.requests = 0

    @property
    def rate(self) -> float:
        """Requests made a second: items skipped from earlier runs made none."""
        return self.requests / max(time.monotonic() - self.started, 1e-9)

    def add(self, outcome: Outcome) -> None:
        error = outcome.error
        if not outcome.skipped:
            self.requests += outcome.attempts
        if error is None:
            if outcome.skipped:
                self.sent_before += 1
            else:
                self.sent += 1
                result = outcome.result
                self.maybe_twice += bool(result is not None and result.ambiguous_attempts)
                self.as_template += bool(result is not None and result.sent_instead is not None)
        elif isinstance(error, EarlierOutcome):
            if error.ambiguous:
                self.ambiguous_before += 1
            else:
                self.failed_before += 1
        elif isinstance(error, NotAttempted):
            self.not_attempted += 1
            cause = error.cause
            meaning = cause.meaning if isinstance(cause, APIError) else None
            todo = f" ({meaning.meaning}: {meaning.todo})" if meaning is not None else ""
            self.stopped_by = f"{_reason(cause)}: {cause}{todo}"
        elif error.ambiguous or error.ambiguous_attempts:
            self.ambiguous += 1
            self.examples.setdefault("ambiguous", f"{outcome.to}: {error}")
        else:
            reason = _reason(error)
            self.failed[reason] += 1
            self.examples.setdefault(reason, f"{outcome.to or outcome.key}: {error}")

    def exit_code(self, interrupted: bool) -> int:
        if interrupted:
            return EXIT_INTERRUPTED
        if self.failed or self.not_attempted or self.failed_before:
            return EXIT_FAILED
        if self.ambiguous or self.ambiguous_before:
            return EXIT_AMBIGUOUS
        return EXIT_OK

    def print(self, out: Console, journal: Path, *, interrupted: bool) -> None:
        title = "Bulk summary (interrupted)" if interrupted else "Bulk summary"
        table = Table("", "", title=title, show_header=False)
        table.add_row("rows", str(self.total))
        table.add_row("sent", str(self.sent))
        if self.maybe_twice:
            table.add_row("  of which may have gone twice", str(self.maybe_twice))
        if self.as_template:
            table.add_row("  of which as the template (window not open)", str(self.as_template))
        table.add_row("sent in an earlier run (skipped)", str(self.sent_before))
        for reason, count in self.failed.most_common():
            table.add_row(f"failed: {reason}", str(count))
            table.add_row("  for example", _short(self.examples[reason]))
        if self.ambiguous:
            table.add_row("may have been delivered (not known)", str(self.ambiguous))
            table.add_row("  for example", _short(self.examples["ambiguous"]))
        if self.failed_before:
            table.add_row("failed in an earlier run (not retried)", str(self.failed_before))
        if self.ambiguous_before:
            table.add_row("in flight when an earlier run stopped", str(self.ambiguous_before))
        if self.not_attempted:
            table.add_row("not attempted (the run stopped)", str(self.not_attempted))
        table.add_row("requests made", str(self.requests))
        table.add_row("rate achieved", f"{self.rate:.1f} requests/s")
        table.add_row("journal", str(journal))
        out.print(table)
        for hint in self._hints(interrupted):
            out.print(hint, highlight=False)

    def _hints(self, interrupted: bool) -> list[str]:
        hints = []
        if self.stopped_by is not None:
            hints.append(
                f"Stopped after {self.stopped_by}: every other item would fail the same way. "
                f"Fix it, then run the same command: the {self.not_attempted} items not "
                "attempted will be sent."
            )
        if interrupted:
            hints.append("Interrupted: run the same command again to resume.")
        local = ("ValidationError", "OutsideWindow")
        sent_and_refused = sum(n for r, n in self.failed.items() if r not in local)
        if sent_and_refused or self.failed_before:
            hints.append("Add --retry-failed to try the failed items again.")
        if self.failed.get("ValidationError"):
            hints.append("Items refused before sending are checked again by every run: fix them.")
        if self.failed.get("OutsideWindow"):
            hints.append(
                "Items to users whose 24-hour window is not open were not sent: run again once "
                "they write, or send a template (--outside-window template --template-instead)."
            )
        if self.ambiguous or self.ambiguous_before:
            hints.append(
                "Add --resend-ambiguous to send again the items that may have been delivered "
                "(their recipients may then get them twice)."
            )
        return hints


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 100 else f"{line[:99]}…"


# templates --------------------------------------------------------------------------------


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the definitions as JSON.")
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_writable,
    help="Write the definitions to FILE, for --templates FILE (offline checks, tests).",
)
@_credentials
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
        _fail(f"note: not read (left unchecked): {', '.join(sorted(found.unreadable))}")


async def _fetch_templates(connection: dict[str, Any]) -> TemplateDefinitions:
    async with _client(**connection) as client:
        return await client.fetch_templates()


# report and receive -----------------------------------------------------------------------


@cli.command()
@click.argument(
    "journals",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def report(journals: tuple[Path, ...], as_json: bool) -> None:
    """What became of a campaign's messages: delivered, read, failed and why. Give every
    shard's journal to see the campaign whole.
    """
    found = DeliveryReport.merge([_report_of(journal) for journal in journals])
    if as_json:
        click.echo(json.dumps(found.to_json(), indent=2))
        return
    table = Table("", "", title=f"Campaign {found.campaign}", show_header=False)
    table.add_row("accepted by Gupshup", str(found.accepted))
    for status in ("enqueued", "sent", "delivered", "read", "failed"):
        table.add_row(f"  latest status: {status}", str(found.by_status.get(status, 0)))
    table.add_row("  no status yet", str(found.without_status))
    out = Console()
    out.print(table)
    for failure in found.to_json()["failed"]:
        meaning = failure["meaning"] or "unknown code"
        todo = f": {failure['what_to_do']}" if failure["what_to_do"] else ""
        out.print(f"failed {failure['count']}x with {failure['code']} ({meaning}){todo}")


def _report_of(journal: Path) -> DeliveryReport:
    store = DeliveryStore(str(journal))
    try:
        return store.report()
    finally:
        store.close()


@cli.command()
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    callback=_writable,
    help="The campaign's journal: statuses are recorded against what it sent.",
)
@click.option(
    "--secret",
    envvar="GUPSHUP_HOOK_SECRET",
    required=True,
    callback=_not_empty,
    help="Or GUPSHUP_HOOK_SECRET: the header value set in the subscription's meta.",
)
@click.option("--header", default="X-Hook-Secret", show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--windows",
    "windows_file",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_writable,
    help="A window store to keep: who wrote when, whose window a 131047 showed closed.",
)
def receive(
    journal: Path, secret: str, header: str, host: str, port: int, windows_file: Path | None
) -> None:
    """Receive Gupshup's callbacks (any path) and record statuses in JOURNAL."""
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on how it was installed
        raise click.UsageError("receive needs uvicorn: pip install uvicorn") from None
    windows = SqliteWindowStore(windows_file) if windows_file is not None else None
    app = Receiver(secret, store=str(journal), header=header, windows=windows)
    click.echo(f"receiving on http://{host}:{port}, recording in {journal}", err=True)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()


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
def sandbox_command(
    host: str,
    port: int,
    rate: float | None,
    retry_after: float | None,
    fail_rate: float,
    seed: int,
    apps: tuple[str, ...],
    templates_file: Path | None,
    windows: bool,
) -> None:
    """Run the local Gupshup look-alike until interrupted."""
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
    )
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        click.echo("sandbox stopped", err=True)
    except OSError as busy:
        _fail(f"error: cannot listen on {host}:{port}: {busy.strerror or busy}")
        raise _Done(EXIT_FAILED) from None


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
    said = f"send failed{attempts}: {type(failure).__name__}: {failure}"
    if failure.ambiguous or failure.ambiguous_attempts:
        said += " (it may have been delivered all the same: an attempt ended without an answer)"
    return said
