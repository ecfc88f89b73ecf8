"""``gupshup-async demo``: the whole loop against the built-in sandbox, no credentials."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gupshup_async._examples import EXAMPLES, FREE_FORM_EXAMPLES, TEMPLATE_EXAMPLE
from gupshup_async.cli._common import POSITIVE
from gupshup_async.cli._group import cli
from gupshup_async.client import GupshupClient
from gupshup_async.errors import WINDOW_CLOSED, GupshupError
from gupshup_async.items import Recipient
from gupshup_async.messages import ButtonMessage, Message, TemplateMessage, TemplateUrlButton
from gupshup_async.policy import RetryPolicy
from gupshup_async.ratelimit import RateLimit
from gupshup_async.receiver import Receiver
from gupshup_async.results import BulkStats
from gupshup_async.sandbox import Faults, Sandbox
from gupshup_async.stores import DeliveryStore, JournalStatuses, MemoryWindowStore
from gupshup_async.template_definitions import TemplateDefinitions
from gupshup_async.webhooks import Event, StatusUpdate
from gupshup_async.window import WindowPolicy


@cli.command()
@click.option(
    "--messages",
    default=3000,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="How many to send in bulk.",
)
@click.option(
    "--rate", type=POSITIVE, default=500.0, show_default=True, help="Client rate limit, a second."
)
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


async def _demo(total: int, rate: float, fail_rate: float, concurrency: int, seed: int) -> None:
    out = Console()
    faults = Faults(
        unavailable=fail_rate * 0.4,
        rate_limited=fail_rate * 0.2,
        drop_before=fail_rate * 0.1,
        error_after=fail_rate * 0.1,
        drop_after=fail_rate * 0.1,
        slow=fail_rate * 0.1,
        slow_seconds=0.2,
    )
    # An attempt that may have reached the sandbox (a 500 or a connection dropped after it was
    # processed) is not retried blind: the client waits for a status naming it, which the
    # receiver stores in the journal. A status: it went, once. None in time: retried. The
    # sandbox posts a first status 0.2 s after processing: 2 s is ample here (the default,
    # 10 s, is for Gupshup).
    retry = RetryPolicy(initial_delay=0.05, max_delay=1.0, confirm_within=2.0)
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
            ) as sandbox,
        ):
            statuses = JournalStatuses(journal)
            out.print(f"Sandbox at [bold]{sandbox.base_url}[/] with {fail_rate:.0%} faults")
            out.print(f"Receiver at [bold]{hook}[/], recording statuses\n")
            async with GupshupClient(
                sandbox.app_id,
                sandbox.token,
                base_url=sandbox.base_url,
                rate_limit=RateLimit(rate),
                retry=retry,
                max_connections=concurrency,
                statuses=statuses,
            ) as client:
                table = Table("type", "message id", "attempts", title="One of every type")
                for kind, message in every_type().items():
                    try:
                        result = await client.send("+91 98765 43210", message)
                    except GupshupError as failed:  # an injected fault: said, not hidden
                        said = "not known (no answer)" if failed.ambiguous else "refused"
                        table.add_row(
                            kind, f"{said}: {type(failed).__name__}", str(failed.attempts)
                        )
                        continue
                    said = " (no answer; a status showed it sent)" if result.confirmed else ""
                    table.add_row(kind, result.message_id + said, str(result.attempts))
                out.print(table)
                stats = await _bulk(client, numbers, concurrency, out, journal)
            statuses.close()
            await _settle(receiver, sandbox)
            window_table = await _window_stage(receiver, windows, hook, secret)
        events_table = await _account_events_stage(Path(folder, "events.journal.db"), secret)
        found = DeliveryStore.read_report(journal)
        _print_summary(out, stats, sandbox, found.duplicated)
    table = Table("", "", title="What the status webhooks said later (the bulk)", show_header=False)
    for status in ("read", "delivered", "sent"):
        table.add_row(f"latest status: {status}", str(found.by_status.get(status, 0)))
    table.add_row("failed after Gupshup accepted it", str(found.by_status.get("failed", 0)))
    for failure in found.to_json()["failed"]:
        table.add_row(f"  {failure['code']}: {failure['meaning']}", str(failure["count"]))
    table.add_row("no status yet", str(found.without_status))
    out.print(table)
    out.print(window_table)
    out.print(events_table)
    out.print(
        f"What you saw: {len(every_type())} message types sent one by one; a campaign of "
        f"{total:,} messages through {fail_rate:.0%} injected faults, where the status "
        "webhooks, not a guess, decided whether an unanswered attempt had gone out (nobody "
        "messaged twice, nobody missed); a campaign that kept to the 24-hour window; one "
        "that followed a paused template, an opt-out and a number change as they came, and "
        "what it cost.",
        highlight=False,
    )
    out.print(
        "Read more: docs/quickstart.md (your first send), docs/bulk.md (campaigns), "
        "docs/webhooks.md (statuses and replies).",
        highlight=False,
    )
    out.print(
        "Try next: gupshup-async sandbox, then point a client (or gupshup-async send "
        "--base-url ...) at the URL it prints.",
        highlight=False,
    )


def every_type() -> dict[str, Message]:
    """One example of every message type the demo sends, by name."""
    return {**EXAMPLES, "template": TEMPLATE_EXAMPLE, **FREE_FORM_EXAMPLES}


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


async def _account_events_stage(journal: Path, secret: str) -> Table:
    """A campaign of deals and news (marketing) and receipts (utility) to 40 customers, with
    callbacks in Gupshup's own format (statuses and billing events): midway the deals
    template is paused, one customer stops marketing messages and another changes number.
    """
    customers = [f"9172{i:08d}" for i in range(40)]
    quitter, mover = customers[30], customers[35]
    receiver = Receiver(secret, store=str(journal))
    items: list[tuple[Recipient, Message]] = []
    for to in customers:
        for name in ("deals", "news", "receipt"):
            message = TemplateMessage(name, "en", body=[to[-4:]])
            items.append((Recipient(f"+{to}", key=f"{name}-{to}"), message))
    outcomes = []
    async with (
        _serving(receiver) as hook,
        Sandbox(
            callback_url=hook,
            callback_headers={"X-Hook-Secret": secret},
            templates=_EVENT_TEMPLATES,
            status_delay=0.001,
            callback_format="gupshup",
        ) as sandbox,
        GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, templates="fetch"
        ) as client,
    ):
        run = client.send_many(items, concurrency=1, journal=journal)
        async with run:
            async for outcome in run:
                outcomes.append(outcome)
                if len(outcomes) == len(items) // 2:
                    await sandbox.template_status("deals", "en", "PAUSED")
                    await sandbox.user_preference(quitter, "stop")
                    await sandbox.change_number(mover, "919999900001")
                    await receiver.drain()
                    run.learn_from_statuses()
        await _settle(receiver, sandbox)
    await receiver.aclose()
    report = DeliveryStore.read_report(journal)
    errors = collections.Counter(type(o.error).__name__ for o in outcomes if o.error)
    table = Table("", "", title="Templates, opt-outs and number changes (Gupshup's own format)")
    table.add_row("sent", str(sum(o.ok for o in outcomes)))
    table.add_row("not sent: the template was paused midway", str(errors["ValidationError"]))
    table.add_row("not sent: the customer stopped marketing", str(errors["UserOptedOut"]))
    table.add_row("not sent: the number its customer left", str(errors["RecipientMoved"]))
    table.add_row("refused by WhatsApp", str(report.by_status.get("failed", 0)))
    for category, (count, billable) in sorted(report.by_category.items()):
        table.add_row(f"cost: {category} messages (billable)", f"{count} ({billable})")
    table.show_header = False
    return table


_EVENT_TEMPLATES = TemplateDefinitions.from_json(
    [
        {
            "name": name,
            "language": "en",
            "status": "APPROVED",
            "category": category,
            "components": [{"type": "BODY", "text": text}],
        }
        for name, category, text in (
            ("deals", "MARKETING", "This week for {{1}}: 20% off"),
            ("news", "MARKETING", "Spring is here, {{1}}"),
            ("receipt", "UTILITY", "Receipt for order {{1}}"),
        )
    ]
)


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
) -> BulkStats:
    message = ButtonMessage(
        "Your order has shipped. How was the delivery?",
        [("good", "Great"), ("bad", "Not great")],
        footer="Reply any time",
    )
    items = ((f"+{number}", message) for number in numbers)  # "9170…": the bulk's own numbers
    total = len(numbers)
    progress = Progress(
        TextColumn("bulk"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.0f} requests/s"),
        TimeElapsedColumn(),
        console=out,
    )
    with progress:
        task = progress.add_task("bulk", total=total, rate=0.0)
        async with client.send_many(items, concurrency=concurrency, journal=journal) as run:
            async for _ in run:
                progress.update(task, completed=run.stats.done, rate=run.stats.rate)
        progress.update(task, completed=run.stats.done, rate=run.stats.rate)  # as the summary
    return run.stats


def _print_summary(out: Console, stats: BulkStats, sandbox: Sandbox, twice: int) -> None:
    table = Table("", "", title="The bulk campaign, as sent", show_header=False)
    table.add_row("messages", str(stats.done))
    table.add_row("accepted by Gupshup", str(stats.sent))
    table.add_row("refused when sent", str(sum(stats.failures.values())))
    table.add_row("attempts whose answer never came", str(stats.confirmed + stats.maybe_twice))
    table.add_row("  settled by a status webhook: sent once, not retried", str(stats.confirmed))
    table.add_row("  no status in time (never arrived): sent again", str(stats.maybe_twice))
    table.add_row("not known (no answer, no status, not sent again)", str(stats.unknown))
    table.add_row("requests made (retries included)", str(stats.requests))
    table.add_row("rate achieved", f"{stats.rate:.0f} requests/s")
    bulk = [items for to, items in sandbox.account.by_recipient().items() if to.startswith("9170")]
    table.add_row("people messaged twice, as statuses show", str(twice))
    table.add_row("people messaged twice (the sandbox's count)", str(sum(len(m) > 1 for m in bulk)))
    table.add_row("people never messaged (the sandbox's count)", str(stats.done - len(bulk)))
    out.print(table)
