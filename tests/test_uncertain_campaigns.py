"""Campaigns whose uncertain attempts the statuses settle, end to end: the sandbox processes a
message and then fails its answer (a 500, a dropped connection, an answer too late), posts its
statuses to a real receiver under uvicorn (or `gupshup-async receive`), which stores them in the
campaign's journal; the campaign reads them there. Counted by the sandbox, the ground truth:
nobody messaged twice, nobody missed.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gupshup_async import (
    ButtonMessage,
    DeliveryStore,
    GupshupClient,
    Journal,
    JournalError,
    JournalStatuses,
    Receiver,
    RetryPolicy,
)
from gupshup_async.results import BulkStats, Outcome
from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Faults, Sandbox
from tests.servers import sandbox_process, under_uvicorn, until

SECRET = "hook-secret-uncertain"
MESSAGE = ButtonMessage("Your parcel is on its way. Track it?", [("track", "Track it")])
COMMAND = [sys.executable, "-m", "gupshup_async"]
# Processed, then the answer is lost (500, dropped, too late); and not processed at all (a
# connection dropped before the request was read: ambiguous to the client, no status ever).
FAULTS = Faults(error_after=0.02, drop_after=0.02, slow=0.01, slow_seconds=5.0, drop_before=0.01)


def numbers(total: int) -> list[str]:
    return [f"+9170{n:08d}" for n in range(total)]


def per_person(sandbox: Sandbox) -> collections.Counter[str]:
    return collections.Counter(p.to for p in sandbox.account.processed)


async def campaign(
    tmp_path: Path, *, wired: bool, total: int = 3000
) -> tuple[BulkStats, list[Outcome], Sandbox]:
    journal = tmp_path / "campaign.db"
    receiver = Receiver(SECRET, store=str(journal))
    statuses = JournalStatuses(journal) if wired else None
    async with under_uvicorn(receiver, "/hooks") as hook:
        async with (
            Sandbox(
                faults=FAULTS,
                seed=23,
                callback_url=hook,
                callback_headers={"X-Hook-Secret": SECRET},
                status_delay=0.05,
            ) as sandbox,
            GupshupClient(
                sandbox.app_id,
                sandbox.token,
                base_url=sandbox.base_url,
                rate_limit=None,
                timeout=2.5,  # the slow fault answers after 5 s: processed, answer too late
                retry=RetryPolicy(initial_delay=0.01),
                statuses=statuses,
            ) as client,
        ):
            run = client.send_many(
                ((to, MESSAGE) for to in numbers(total)), concurrency=48, journal=journal
            )
            async with run:
                outcomes = [o async for o in run]
            await until(lambda: not sandbox.callbacks_pending, 60)
            await receiver.drain()
        await receiver.aclose()
    if statuses is not None:
        statuses.close()
    assert len(outcomes) == total
    return run.stats, outcomes, sandbox


async def test_a_campaign_with_statuses_wired_messages_everyone_exactly_once(
    tmp_path: Path,
) -> None:
    stats, outcomes, sandbox = await campaign(tmp_path, wired=True)
    counts = per_person(sandbox)
    assert len(counts) == 3000  # nobody missed
    assert max(counts.values()) == 1  # nobody twice
    assert stats.ok == 3000
    faults = sandbox.account.faults
    processed_then_lost = faults["error_after"] + faults["drop_after"] + faults["slow"]
    assert processed_then_lost > 60  # the faults happened, many times
    # Each was settled by its status (sent once, never retried); the attempts that never
    # reached the sandbox had none, and were sent again.
    assert stats.confirmed >= processed_then_lost
    uncertain = [o for o in outcomes if o.result is not None and o.result.ambiguous_attempts]
    assert stats.confirmed + stats.maybe_twice == len(uncertain)
    assert stats.duplicated == 0
    assert stats.unconfirmed == 0
    report = DeliveryStore.read_report(tmp_path / "campaign.db")
    assert report.duplicated == 0
    assert report.uncertain == 0
    assert report.accepted == 3000
    assert report.confirmed == stats.confirmed  # the journal kept which a status settled


async def test_the_same_campaign_without_a_status_source_behaves_as_before(
    tmp_path: Path,
) -> None:
    stats, _, sandbox = await campaign(tmp_path, wired=False)
    counts = per_person(sandbox)
    faults = sandbox.account.faults
    processed_then_lost = faults["error_after"] + faults["drop_after"] + faults["slow"]
    assert len(counts) == 3000
    # Retried blind (at least once, the default): every processed-then-lost attempt is a second
    # message to someone, as before; nothing was confirmed.
    twice = [n for n in counts.values() if n > 1]
    assert sum(n - 1 for n in twice) == processed_then_lost > 60
    assert stats.confirmed == 0
    assert stats.maybe_twice >= len(twice)
    # The journal's tags per attempt make those duplicates known to the report all the same.
    report = DeliveryStore.read_report(tmp_path / "campaign.db")
    assert report.duplicated == len(twice)


async def test_resend_unconfirmed_is_refused_when_no_status_was_ever_recorded(
    tmp_path: Path,
) -> None:
    path = tmp_path / "campaign.db"
    async with Sandbox(faults=Faults(drop_before=1.0)) as sandbox:
        async with GupshupClient(
            sandbox.app_id,
            sandbox.token,
            base_url=sandbox.base_url,
            rate_limit=None,
            retry=RetryPolicy(retry_ambiguous=False),
        ) as client:
            first = [o async for o in client.send_many([(numbers(1)[0], MESSAGE)], journal=path)]
            assert first[0].error is not None
            assert first[0].error.ambiguous
            journal = Journal(path, resend_unconfirmed=True, unconfirmed_after=0)
            with pytest.raises(JournalError, match="no status was ever recorded"):
                [o async for o in client.send_many([(numbers(1)[0], MESSAGE)], journal=journal)]
    assert sandbox.account.processed == []


async def test_a_journal_of_format_2_is_upgraded_and_resumed(tmp_path: Path) -> None:
    path = tmp_path / "campaign.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executescript(
            """
            CREATE TABLE items (key TEXT PRIMARY KEY, recipient TEXT NOT NULL,
                fingerprint TEXT NOT NULL, state TEXT NOT NULL, message_id TEXT, error TEXT,
                attempts INTEGER NOT NULL DEFAULT 0, updated REAL NOT NULL);
            CREATE TABLE deliveries (gs_id TEXT PRIMARY KEY, wamid TEXT, item_key TEXT,
                recipient TEXT NOT NULL, accepted REAL NOT NULL,
                status TEXT NOT NULL DEFAULT 'accepted', status_at REAL, error_code INTEGER,
                error_title TEXT);
            CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE seen_events (identity TEXT PRIMARY KEY, at REAL NOT NULL)
                WITHOUT ROWID;
            INSERT INTO meta VALUES ('campaign', 'c0ffee000001');
            PRAGMA user_version = 2;
            """
        )
    async with Sandbox() as sandbox:
        async with GupshupClient(
            sandbox.app_id, sandbox.token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            items = [(to, MESSAGE) for to in numbers(3)]
            first = [o async for o in client.send_many(items, journal=path)]
            again = [o async for o in client.send_many(items, journal=path)]
    assert all(o.ok and not o.skipped for o in first)
    assert all(o.skipped for o in again)  # the upgraded journal resumes as any other
    assert len(sandbox.account.processed) == 3
    assert DeliveryStore.read_report(path).accepted == 3


# The CLI, end to end: processes for the sandbox, the receiver and the campaign ----------------


@contextlib.contextmanager
def receive_process(journal: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [*COMMAND, "receive", "--journal", str(journal), "--port", "0"],
        env={**os.environ, "GUPSHUP_HOOK_SECRET": SECRET},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert "receiving on" in line, line
        yield line.split("receiving on ")[1].split(",")[0] + "/hooks/gupshup"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        if process.stderr is not None:
            process.stderr.close()


def write_campaign(folder: Path, total: int) -> tuple[Path, Path]:
    rows = folder / "people.csv"
    with rows.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["phone", "name"])
        writer.writerows([to, f"N{n}"] for n, to in enumerate(numbers(total)))
    message = folder / "message.json"
    message.write_text(
        json.dumps(
            {
                "type": "button",
                "body": {"text": "Hi {name}, your parcel is on its way"},
                "action": {"buttons": [{"type": "reply", "reply": {"id": "ok", "title": "OK"}}]},
            }
        )
    )
    return rows, message


def bulk_args(rows: Path, message: Path, journal: Path, sandbox: str, *more: str) -> list[str]:
    return [
        *COMMAND,
        "bulk",
        str(rows),
        "--message",
        str(message),
        "--journal",
        str(journal),
        "--base-url",
        sandbox,
        "--app-id",
        SANDBOX_APP_ID,
        "--token",
        SANDBOX_TOKEN,
        "--timeout",
        "1",
        "--json",
        *more,
    ]


def account(sandbox: str) -> collections.Counter[str]:
    found = httpx.get(f"{sandbox}/sandbox/account", timeout=10).json()
    return collections.Counter({to: len(sent) for to, sent in found["by_recipient"].items()})


def summary(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert done.stdout, done.stderr
    found: dict[str, object] = json.loads(done.stdout)
    return found


def test_bulk_with_confirm_within_messages_everyone_once_through_faults(tmp_path: Path) -> None:
    rows, message = write_campaign(tmp_path, 1000)
    journal = tmp_path / "people.journal.db"
    with receive_process(journal) as hook:
        with sandbox_process(
            "--fault", "error_after=0.05", "--fault", "drop_after=0.03",
            "--fault", "drop_before=0.02", "--fault", "unavailable=0.05",
            "--seed", "5", "--callback", hook,
            "--callback-header", f"X-Hook-Secret:{SECRET}", "--status-delay", "0.05",
        ) as sandbox:  # fmt: skip
            args = bulk_args(
                rows, message, journal, sandbox, "--rate", "400", "--max-attempts", "10"
            )
            done = subprocess.run(
                [*args, "--confirm-within", "5"], capture_output=True, text=True, timeout=300
            )
            counts = account(sandbox)
    found = summary(done)
    assert done.returncode == 0, done.stderr
    assert found["sent"] == 1000
    assert len(counts) == 1000
    assert max(counts.values()) == 1  # nobody twice
    assert found["confirmed_by_status"] > 0  # type: ignore[operator]
    assert found["sent_twice"] == 0
    report = json.loads(
        subprocess.run(
            [*COMMAND, "report", str(journal), "--json"], capture_output=True, text=True
        ).stdout
    )
    assert report["duplicated"] == 0
    assert report["uncertain"] == 0
    assert report["confirmed"] == found["confirmed_by_status"]
    assert report["status_latency"] is not None


def test_a_campaign_killed_mid_run_resumes_from_its_statuses_and_resends_the_unconfirmed(
    tmp_path: Path,
) -> None:
    total = 600
    rows, message = write_campaign(tmp_path, total)
    journal = tmp_path / "people.journal.db"
    with receive_process(journal) as hook:
        with sandbox_process(
            "--fault", "error_after=0.1", "--fault", "drop_after=0.05",
            "--fault", "drop_before=0.1", "--seed", "11", "--callback", hook,
            "--callback-header", f"X-Hook-Secret:{SECRET}", "--status-delay", "0.3",
        ) as sandbox:  # fmt: skip
            args = bulk_args(
                rows, message, journal, sandbox, "--rate", "80", "--max-attempts", "12"
            )
            runner = subprocess.Popen(
                [*args, "--confirm-within", "3"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while sum(account(sandbox).values()) < 150 and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(runner.pid, signal.SIGKILL)  # statuses of the last messages still to come
            runner.wait(timeout=10)
            time.sleep(2.0)  # what was on the wire is read, its statuses come in meanwhile
            reached = set(account(sandbox))
            with contextlib.closing(sqlite3.connect(journal)) as db:
                in_flight = {
                    "+" + to for (to,) in db.execute(
                        "SELECT recipient FROM items WHERE state IN ('in_flight', 'ambiguous')"
                    )
                }  # fmt: skip
            assert in_flight  # killed with requests on the wire, or waiting for their status
            reached_in_flight = {to for to in in_flight if to.lstrip("+") in reached}
            never_arrived = in_flight - reached_in_flight

            resumed = subprocess.run(
                [*args, "--confirm-within", "3"], capture_output=True, text=True, timeout=300
            )
            after_resume = account(sandbox)
            assert max(after_resume.values()) == 1  # none sent again
            first = summary(resumed)
            # Every in-flight item that had reached the sandbox is recorded sent, by its status;
            # the others are not sent yet: they may still be on their way, for all a run knows.
            assert first["in_flight_when_an_earlier_run_stopped"] == len(never_arrived)
            assert set(after_resume) == {to.lstrip("+") for to in numbers(total)} - {
                to.lstrip("+") for to in never_arrived
            }

            final = subprocess.run(
                [*args, "--resend-unconfirmed", "--unconfirmed-after", "1"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            last = summary(final)
            counts = account(sandbox)
    assert final.returncode == 0, final.stderr
    assert last["sent"] == len(never_arrived)  # exactly those, once each
    assert len(counts) == total  # nobody missed
    assert max(counts.values()) == 1  # nobody twice
    with contextlib.closing(sqlite3.connect(journal)) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
    assert states == {"sent": total}


def test_bulk_resend_unconfirmed_without_any_status_is_one_line_and_sends_nothing(
    tmp_path: Path,
) -> None:
    rows, message = write_campaign(tmp_path, 3)
    journal = tmp_path / "people.journal.db"
    with sandbox_process("--fault", "drop_before=1") as sandbox:
        args = bulk_args(rows, message, journal, sandbox, "--at-most-once")
        first = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert summary(first)["may_have_been_delivered"] == 3  # no answer, not sent again
        again = subprocess.run(
            [*args, "--resend-unconfirmed"], capture_output=True, text=True, timeout=120
        )
        counts = account(sandbox)
    assert again.returncode == 2
    said = [line for line in again.stderr.splitlines() if "warning" not in line]
    assert len(said) == 1, again.stderr  # one line, no traceback
    assert "no status was ever recorded" in said[0]
    assert "gupshup-async receive --journal" in said[0]
    assert counts == {}  # nothing reached the sandbox, and nothing was resent
