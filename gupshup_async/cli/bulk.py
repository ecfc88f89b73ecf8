"""``gupshup-async bulk``: a campaign from a CSV / JSON lines / JSON file, with a journal."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

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
    POSITIVE,
    Done,
    credentials,
    instead_template,
    make_client,
    parse_shard,
    reason_of,
    window_options,
    windows_and_templates,
    writable,
)
from gupshup_async.cli._group import cli
from gupshup_async.errors import APIError, EarlierOutcome, NotAttempted, ValidationError
from gupshup_async.messages import Message, TemplateMessage, normalize_recipient
from gupshup_async.ratelimit import RateLimit
from gupshup_async.recipients import RowMessage, read_rows, recipient_of, row_items, scan_rows
from gupshup_async.redis_limiter import RedisLimiter
from gupshup_async.results import Outcome
from gupshup_async.stores import Journal


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
    callback=writable,
    help="SQLite journal for resuming (default: RECIPIENTS.journal.db).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=writable,
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
    callback=parse_shard,
    help="I/N: send only the rows whose recipient falls in shard I of N (run one per worker).",
)
@click.option(
    "--redis",
    "redis_url",
    envvar="GUPSHUP_REDIS_URL",
    help="Share the rate limit through Redis (redis://...), with every worker of the app.",
)
@windows_and_templates
@credentials
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
    filled = instead_template(instead_file, outside_window)
    total = scan_rows(recipients, template, *([filled] if filled is not None else []))
    instead = _PerRow(filled) if filled is not None else None
    connection.update(window_options(windows_file, outside_window, instead, templates_source))
    suffix = f".shard-{shard[0]}-of-{shard[1]}" if shard is not None else ""
    journal = journal or recipients.with_name(f"{recipients.name}{suffix}.journal.db")
    book = Journal(journal, retry_failed=retry_failed, resend_ambiguous=resend_ambiguous)
    rows = read_rows(recipients)
    items = row_items(template, rows if instead is None else instead.follow(rows))
    try:
        out_file = out.open("w", encoding="utf-8") if out is not None else None
    except OSError as bad:
        raise click.BadParameter(f"{out}: {bad.strerror}", param_hint="--out") from None
    summary = Summary(total)
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
    raise Done(summary.exit_code(interrupted))


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
    summary: Summary,
    out_file: IO[str] | None,
) -> None:
    rate, redis_url, shard = limit
    limiter: RateLimit | RedisLimiter = RateLimit(rate)
    if redis_url is not None:  # the app's rate, shared with every worker
        limiter = RedisLimiter(redis_url, connection["app_id"], RateLimit(rate))
    try:
        async with make_client(
            **connection, rate_limit=limiter, max_connections=concurrency
        ) as client:
            run = client.send_many(items, concurrency=concurrency, journal=journal, shard=shard)
            await _follow(run, summary, out_file, counted=shard is None)
    finally:
        if isinstance(limiter, RedisLimiter):
            await limiter.aclose()


async def _follow(
    run: BulkRun, summary: Summary, out_file: IO[str] | None, *, counted: bool
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


class Summary:
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
            self.stopped_by = f"{reason_of(cause)}: {cause}{todo}"
        elif error.ambiguous or error.ambiguous_attempts:
            self.ambiguous += 1
            self.examples.setdefault("ambiguous", f"{outcome.to}: {error}")
        else:
            reason = reason_of(error)
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
