"""``gupshup-async bulk``: a campaign from a CSV / JSON lines / JSON file, with a journal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from gupshup_async.bulk import BulkRun
from gupshup_async.cli._common import (
    EXIT_AMBIGUOUS,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    POSITIVE,
    Done,
    credentials,
    instead_template,
    location,
    make_client,
    not_empty,
    parse_shard,
    printable,
    redis_url,
    refuse_overwriting,
    window_options,
    windows_and_templates,
    writable,
)
from gupshup_async.cli._group import cli
from gupshup_async.errors import APIError, RowsError, StopRequested, ValidationError
from gupshup_async.items import Item
from gupshup_async.messages import Message, TemplateMessage, encode_payload, normalize_recipient
from gupshup_async.policy import CONFIRM_WITHIN
from gupshup_async.ratelimit import RateLimit
from gupshup_async.recipients import (
    RowMessage,
    RowsScan,
    read_rows,
    recipient_of,
    row_items,
    scan_rows,
)
from gupshup_async.redis_limiter import RedisLimiter
from gupshup_async.results import BulkStats, Outcome, failure_reason
from gupshup_async.stores import UNCONFIRMED_AFTER, Journal


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
    envvar="GUPSHUP_JOURNAL",
    callback=location,
    help="Where the campaign is recorded, to resume it: an SQLite file (default: "
    "RECIPIENTS.journal.db), or a postgresql:// URL shared by every host (the campaign is "
    "known there by --campaign; shards run at once). Or GUPSHUP_JOURNAL.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=writable,
    help="Results, a JSON line per item.",
)
@click.option(
    "--campaign",
    callback=not_empty,
    help="The campaign's name, kept in its journal: a run with another name is refused "
    "(default: the name of RECIPIENTS).",
)
@click.option("--retry-failed", is_flag=True, help="Send again what failed in an earlier run.")
@click.option(
    "--resend-ambiguous",
    is_flag=True,
    help="Send again what may have been delivered in an earlier run (may duplicate).",
)
@click.option(
    "--confirm-within",
    type=click.FloatRange(min=0),
    help="Wait up to SECONDS for a status naming an attempt whose answer never came before "
    "retrying it or giving it up (a status settles it: sent once). The statuses are read from "
    "the journal, where `gupshup-async receive --journal JOURNAL` records them. Off by default.",
)
@click.option(
    "--resend-unconfirmed",
    is_flag=True,
    help="Send again the items an earlier run left uncertain that no status named within "
    "--unconfirmed-after of their last attempt (needs statuses recorded in the journal; "
    "implies --confirm-within, 10 s unless given).",
)
@click.option(
    "--unconfirmed-after",
    type=click.FloatRange(min=0),
    default=UNCONFIRMED_AFTER,
    show_default=True,
    help="Seconds after an uncertain item's last attempt before no status means it never arrived.",
)
@click.option(
    "--shard",
    callback=parse_shard,
    help="I/N: send only the rows whose recipient falls in shard I of N (run one per worker).",
)
@click.option(
    "--grace",
    type=POSITIVE,
    default=5.0,
    show_default=True,
    help="After Ctrl-C or SIGTERM, seconds the requests already sent may take to be answered "
    "(their outcome then known); a second signal stops at once.",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Send the other rows when some cannot be sent (by default such rows refuse the file).",
)
@click.option(
    "--send-repeats",
    is_flag=True,
    help="Send a row that repeats an earlier row's message to the same person (by default: once).",
)
@click.option(
    "--send-edited",
    is_flag=True,
    help="Send rows whose person an earlier run of this campaign sent a different message.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check the input, say what would be sent; send nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--redis",
    "redis_url",
    envvar="GUPSHUP_REDIS_URL",
    callback=redis_url,
    help="Share the rate limit through Redis (redis://...), with every worker of the app.",
)
@windows_and_templates
@credentials
def bulk(
    recipients: Path,
    template_file: Path,
    rate: float,
    concurrency: int,
    journal: Path | str | None,
    out: Path | None,
    campaign: str | None,
    retry_failed: bool,
    resend_ambiguous: bool,
    confirm_within: float | None,
    resend_unconfirmed: bool,
    unconfirmed_after: float,
    shard: tuple[int, int] | None,
    grace: float,
    skip_invalid: bool,
    send_repeats: bool,
    send_edited: bool,
    dry_run: bool,
    as_json: bool,
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
    filled = instead_template(instead_file, outside_window)
    region = connection.get("default_region")
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard is not None else ""
    journal = journal or recipients.with_name(f"{recipients.name}{suffix}.journal.db")
    name = campaign or recipients.name
    if out is not None:
        files = [journal, windows_file]
        inputs = [
            recipients,
            template_file,
            instead_file,
            *(f for f in files if isinstance(f, Path)),
        ]
        if templates_source not in (None, "fetch"):
            inputs.append(Path(str(templates_source)))
        refuse_overwriting(out, inputs, "--out")
    scan = scan_rows(
        recipients,
        template,
        *([filled] if filled is not None else []),
        region=region,
        allow_refused=skip_invalid or dry_run,
        sent_before=Journal.sent_before(journal, name),
    )
    if dry_run:
        _print_dry_run(scan, template, recipients, region, as_json=as_json)
        raise Done(EXIT_OK if not (scan.refused and not skip_invalid) else EXIT_USAGE)
    if scan.edited and not send_edited:
        shown = "; ".join(scan.edited[:5])
        raise RowsError(
            f"{len(scan.edited)} rows would send a different message to people an earlier run "
            f"of this campaign already messaged (an edited row?): {shown}; nothing was sent "
            "(check them, then --send-edited to send them)"
        )
    instead = _PerRow(filled, region) if filled is not None else None
    connection.update(window_options(windows_file, outside_window, instead, templates_source))
    book = Journal(
        journal,
        name=name,
        # A database holds the whole campaign: each shard runs under its own lock there.
        shard=f"{shard[0]}/{shard[1]}" if shard is not None and isinstance(journal, str) else None,
        retry_failed=retry_failed,
        resend_ambiguous=resend_ambiguous,
        resend_unconfirmed=resend_unconfirmed,
        unconfirmed_after=unconfirmed_after,
    )
    if resend_unconfirmed and confirm_within is None:
        confirm_within = CONFIRM_WITHIN  # statuses are being recorded: let them settle retries
    if confirm_within is not None:
        connection["confirm_within"] = confirm_within
    rows = read_rows(recipients)
    left_out = set(scan.refused_rows) | (set() if send_repeats else set(scan.repeat_rows))
    total = scan.rows - len(left_out)  # the outcomes the run gives: what the bar counts to
    items = _chosen(
        row_items(template, rows if instead is None else instead.follow(rows)), left_out
    )
    try:
        out_file = out.open("w", encoding="utf-8") if out is not None else None
    except OSError as bad:
        raise click.BadParameter(f"{out}: {bad.strerror}", param_hint="--out") from None
    stats = BulkStats()
    stopping: list[str] = []
    # SIGTERM (systemd, docker stop) stops the run as Ctrl-C does: the same summary.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        limit = (rate, redis_url, shard)
        stop = _Stop(stopping, grace)
        asyncio.run(
            _bulk_run(connection, limit, concurrency, items, book, stats, total, out_file, stop)
        )
    except (KeyboardInterrupt, asyncio.CancelledError):  # a second signal, or grace run out
        stopping.append("now")
    finally:
        if out_file is not None:
            out_file.close()
    interrupted = bool(stopping)
    code = exit_code(stats, interrupted=interrupted)
    if as_json:
        summary = summary_json(
            stats, scan, printable(journal), interrupted=interrupted, exit_code=code
        )
        click.echo(json.dumps(summary, indent=2))
    else:
        print_summary(Console(), stats, scan, printable(journal), interrupted=interrupted)
    raise Done(code)


def _chosen(items: Iterator[Item], left_out: set[int]) -> Iterator[Item]:
    """The items to send: those of the rows the scan did not leave out (rows that cannot be
    sent, there only with --skip-invalid; repeats, unless --send-repeats).
    """
    for n, item in enumerate(items):
        if n not in left_out:
            yield item


def _print_dry_run(
    scan: RowsScan, template: RowMessage, recipients: Path, region: str | None, *, as_json: bool
) -> None:
    """What a run would send, from the scan, and one message as it would be sent."""
    sample = None
    for row in read_rows(recipients):
        made = template.render(row)
        try:
            to = normalize_recipient(recipient_of(row), region)
        except ValidationError:
            continue
        if not isinstance(made, ValidationError):
            sample = json.loads(encode_payload(to, made))
            break
    would = scan.rows - len(scan.refused) - scan.repeats
    found = {
        "rows": scan.rows,
        "would_send": would,
        "refused": len(scan.refused),
        "refused_rows": scan.refused[:20],
        "repeats": scan.repeats,
        "edited": len(scan.edited),
        "edited_rows": scan.edited[:20],
        "sample": sample,
    }
    if as_json:
        click.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    out = Console()
    table = Table("", "", title="Dry run: nothing sent", show_header=False)
    table.add_row("rows", str(scan.rows))
    table.add_row("would send (this run, before the journal's skips)", str(would))
    table.add_row("rows that cannot be sent", str(len(scan.refused)))
    table.add_row("repeats of an earlier row (sent once)", str(scan.repeats))
    table.add_row("rows edited since an earlier run", str(len(scan.edited)))
    out.print(table)
    for line in scan.refused[:10]:
        out.print(f"cannot be sent: {line}", highlight=False, markup=False)
    for line in scan.edited[:10]:
        out.print(f"edited since an earlier run: {line}", highlight=False, markup=False)
    if sample is not None:
        out.print("The first message, as it would be sent:", highlight=False)
        out.print_json(json.dumps(sample, ensure_ascii=False))


class _PerRow:
    """``--template-instead`` for bulk: the template filled from the row of the item it
    replaces. Each row is filled as `row_items` reads it (one pass over the file); one filled
    template is kept per recipient until it is used.
    """

    def __init__(self, template: RowMessage, region: str | None) -> None:
        self.template = template
        self.region = region
        self._fixed = template.render({}) if not template.placeholders else None
        self._by_recipient: dict[str, Message | ValidationError] = {}

    def follow(self, rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for row in rows:
            if self._fixed is None:
                with contextlib.suppress(ValidationError):
                    to = normalize_recipient(recipient_of(row), self.region)
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
    stats: BulkStats,
    total: int,
    out_file: IO[str] | None,
    stop: _Stop,
) -> None:
    rate, redis_url, shard = limit
    await journal.open()  # a journal in use is refused before any progress is shown
    limiter: RateLimit | RedisLimiter = RateLimit(rate)
    if redis_url is not None:  # the app's rate, shared with every worker
        limiter = RedisLimiter(redis_url, connection["app_id"], RateLimit(rate))
    # With --confirm-within, the statuses a receiver records in the journal settle uncertain
    # attempts; without it, nothing waits for them (resumed items are still looked up).
    statuses = journal.status_source() if "confirm_within" in connection else None
    try:
        async with make_client(
            **connection, rate_limit=limiter, max_connections=concurrency
        ) as client:
            run = client.send_many(
                items,
                concurrency=concurrency,
                journal=journal,
                shard=shard,
                stats=stats,
                statuses=statuses,
            )
            with _graceful_stop(run, stop):
                # A shard sends only part of the file: its total is not known ahead.
                await _follow(run, total if shard is None else None, out_file)
    finally:
        if isinstance(limiter, RedisLimiter):
            await limiter.aclose()
        if statuses is not None:
            statuses.close()


@attrs.frozen
class _Stop:
    """How a run is being stopped (``stopping``: "cleanly", then "now"), and the grace period
    the requests on the wire have after the first signal.
    """

    stopping: list[str]
    grace: float


@contextlib.contextmanager
def _graceful_stop(run: BulkRun, stop: _Stop) -> Iterator[None]:
    """The first Ctrl-C or SIGTERM stops the run cleanly: nothing new starts, the requests on
    the wire have ``stop.grace`` seconds to finish (their outcome is then known, not
    ambiguous); a second signal, or the end of the grace period, stops at once.
    """
    stopping = stop.stopping
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None

    def on_signal() -> None:
        if stopping:  # the second: at once
            main.cancel()
            return
        stopping.append("cleanly")
        run.stop()
        loop.call_later(stop.grace, main.cancel)

    signals = (signal.SIGINT, signal.SIGTERM)
    for number in signals:
        loop.add_signal_handler(number, on_signal)
    try:
        yield
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


async def _follow(run: BulkRun, total: int | None, out_file: IO[str] | None) -> None:
    """Show the run's progress (its own counts), write its outcomes to ``out_file``."""
    progress = Progress(
        TextColumn("sending"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f}/s ok {task.fields[ok]} failed {task.fields[failed]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        task = progress.add_task("bulk", total=total, rate=0.0, ok=0, failed=0)
        async with run:
            async for outcome in run:
                if out_file is not None:
                    out_file.write(json.dumps(_outcome_json(outcome)) + "\n")
                stats = run.stats
                progress.update(
                    task, completed=stats.done, rate=stats.rate, ok=stats.ok, failed=stats.failed
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


def exit_code(stats: BulkStats, *, interrupted: bool) -> int:
    """The exit code docs/cli.md lists, from what the run counted."""
    if interrupted:
        return EXIT_INTERRUPTED
    if stats.failures or stats.not_attempted or stats.failed_before:
        return EXIT_FAILED
    if stats.unknown or stats.unknown_before:
        return EXIT_AMBIGUOUS
    return EXIT_OK


def summary_json(
    stats: BulkStats, scan: RowsScan, journal: str, *, interrupted: bool, exit_code: int
) -> dict[str, Any]:
    """The summary as `--json` prints it: the same counts as the table."""
    return {
        "rows": scan.rows,
        "sent": stats.sent,
        "may_have_gone_twice": stats.maybe_twice,
        "confirmed_by_status": stats.confirmed,
        "sent_twice": stats.duplicated,
        "unconfirmed": stats.unconfirmed,
        "sent_as_template": stats.as_template,
        "sent_in_an_earlier_run": stats.already_sent,
        "failed": dict(stats.failures.most_common()),
        "may_have_been_delivered": stats.unknown,
        "failed_in_an_earlier_run": stats.failed_before,
        "in_flight_when_an_earlier_run_stopped": stats.unknown_before,
        "not_attempted": stats.not_attempted,
        "repeats_not_sent": scan.repeats,
        "invalid_rows_skipped": len(scan.refused),
        "requests": stats.requests,
        "rate": round(stats.rate, 2),
        "journal": journal,
        "interrupted": interrupted,
        "exit_code": exit_code,
    }


def print_summary(
    out: Console, stats: BulkStats, scan: RowsScan, journal: str, *, interrupted: bool
) -> None:
    title = "Bulk summary (interrupted)" if interrupted else "Bulk summary"
    table = Table("", "", title=title, show_header=False)
    table.add_row("rows", str(scan.rows))
    if scan.refused:
        table.add_row("rows that cannot be sent (skipped)", str(len(scan.refused)))
    if scan.repeats:
        table.add_row("repeats of an earlier row (sent once)", str(scan.repeats))
    table.add_row("sent", str(stats.sent))
    if stats.maybe_twice:
        table.add_row("  of which may have gone twice", str(stats.maybe_twice))
    if stats.confirmed:
        table.add_row("uncertain attempts a status showed sent", str(stats.confirmed))
    if stats.duplicated:
        table.add_row("sent twice, as statuses show", str(stats.duplicated))
    if stats.unconfirmed:
        table.add_row("uncertain, and no status came (unconfirmed)", str(stats.unconfirmed))
    if stats.as_template:
        table.add_row("  of which as the template (window not open)", str(stats.as_template))
    table.add_row("sent in an earlier run (skipped)", str(stats.already_sent))
    for reason, count in stats.failures.most_common():
        table.add_row(f"failed: {reason}", str(count))
        table.add_row("  for example", _short(stats.examples[reason]))
    if stats.unknown:
        table.add_row("may have been delivered (not known)", str(stats.unknown))
        table.add_row("  for example", _short(stats.examples["unknown"]))
    if stats.failed_before:
        table.add_row("failed in an earlier run (not retried)", str(stats.failed_before))
    if stats.unknown_before:
        table.add_row("in flight when an earlier run stopped", str(stats.unknown_before))
    if stats.not_attempted:
        table.add_row("not attempted (the run stopped)", str(stats.not_attempted))
    table.add_row("requests made", str(stats.requests))
    table.add_row("rate achieved", f"{stats.rate:.1f} requests/s")
    table.add_row("journal", journal)
    out.print(table)
    for hint in _hints(stats, interrupted):
        out.print(hint, highlight=False)


def _hints(stats: BulkStats, interrupted: bool) -> list[str]:
    hints = []
    cause = stats.stopped_by
    if cause is not None and not isinstance(cause, StopRequested):
        meaning = cause.meaning if isinstance(cause, APIError) else None
        todo = f" ({meaning.meaning}: {meaning.todo})" if meaning is not None else ""
        hints.append(
            f"Stopped after {failure_reason(cause)}: {cause}{todo}: every other item would fail "
            f"the same way. Fix it, then run the same command: the {stats.not_attempted} items "
            "not attempted will be sent."
        )
    if interrupted:
        hints.append("Interrupted: run the same command again to resume.")
    local = ("ValidationError", "OutsideWindow")
    sent_and_refused = sum(n for r, n in stats.failures.items() if r not in local)
    if sent_and_refused or stats.failed_before:
        hints.append("Add --retry-failed to try the failed items again.")
    if stats.failures.get("ValidationError"):
        hints.append("Items refused before sending are checked again by every run: fix them.")
    if stats.failures.get("OutsideWindow"):
        hints.append(
            "Items to users whose 24-hour window is not open were not sent: run again once "
            "they write, or send a template (--outside-window template --template-instead)."
        )
    if stats.unconfirmed:
        hints.append(
            "Add --resend-unconfirmed to send again the items no status named: they almost "
            "surely never arrived."
        )
    if stats.unknown or stats.unknown_before:
        hints.append(
            "Add --resend-ambiguous to send again the items that may have been delivered "
            "(their recipients may then get them twice)."
        )
    return hints


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 100 else f"{line[:99]}…"
