"""A durable record of a bulk run, in SQLite, so that an interrupted campaign resumes without
messaging anyone twice.

Each item is recorded by its key, with its recipient and the fingerprint of its message:
``in_flight`` when its request is about to leave (after the rate limiter let it go), then
``sent`` (with the message id), ``failed`` (with the error) or ``ambiguous``. An item whose turn
never came is not recorded, so the next run sends it. The ``in_flight`` mark is committed, and
synced to disk (``synchronous=FULL``: a power cut cannot lose it), before the request is sent;
the marks that arrive while one commit runs share the next, so batches grow with the load. The
final states are written in batches without waiting. A crash at any moment leaves a consistent
file (SQLite transactions, WAL): an item whose final state was lost stays ``in_flight``, and the
next run reports it as ambiguous instead of sending it again.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from gupshup_async.errors import (
    CODES,
    EarlierOutcome,
    GupshupError,
    JournalError,
    ValidationError,
)
from gupshup_async.results import SendResult
from gupshup_async.webhooks import Event, FromUser, StatusUpdate, TemplateButtonReply

__all__ = ["FORMAT", "Delivery", "DeliveryReport", "DeliveryStore", "Journal", "Recorded"]

#: The journal's format, kept in SQLite's ``user_version``: 2 records each item's recipient and
#: message fingerprint with its key (format 0, of version 0.1, keyed items by position).
FORMAT = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'sent', 'failed', 'ambiguous')),
    message_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
)
"""
_UPSERT = """
INSERT INTO items (key, recipient, fingerprint, state, message_id, error, attempts, updated)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    state = excluded.state, message_id = excluded.message_id,
    error = excluded.error, attempts = excluded.attempts, updated = excluded.updated
"""
_FORGET = "DELETE FROM items WHERE key = ? AND state = 'in_flight'"

# What became of each accepted message: Gupshup's id, Meta's (learnt from the first status), the
# item it was, and its latest status. The campaign's id is in meta, and in every send's
# biz_opaque_callback_data ("<campaign>/<key>"), so statuses find their item without ids too.
_DELIVERIES = """
CREATE TABLE IF NOT EXISTS deliveries (
    gs_id TEXT PRIMARY KEY,
    wamid TEXT,
    item_key TEXT,
    recipient TEXT NOT NULL,
    accepted REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'accepted',
    status_at REAL,
    error_code INTEGER,
    error_title TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_by_wamid ON deliveries (wamid);
CREATE INDEX IF NOT EXISTS deliveries_by_key ON deliveries (item_key);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# A status may come before the journal's own record of the send (the receiver is another
# process): then the status made the row, and the send fills in which item it was.
_ACCEPTED = """
INSERT INTO deliveries (gs_id, item_key, recipient, accepted) VALUES (?, ?, ?, ?)
ON CONFLICT (gs_id) DO UPDATE SET
    item_key = excluded.item_key, recipient = excluded.recipient, accepted = excluded.accepted
"""
# Later statuses win; a late "sent" after "read" (Gupshup may reorder) does not go back.
_RANK = {"accepted": 0, "enqueued": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}

# (key, recipient, fingerprint, state, message_id, error, attempts, updated); state None: forget
Row = tuple[str, str, str, "str | None", "str | None", "str | None", int, float]


@attrs.frozen
class Recorded:
    """What the journal holds of an item dealt with in an earlier run: its result (sent), or
    its error (failed, ambiguous); ``conflict`` when the item's key was used for another
    recipient or message (the error says which; the earlier record is kept).
    """

    result: SendResult | None = None
    error: GupshupError | None = None
    conflict: bool = False


class Journal:
    """The SQLite journal of a bulk run: ``Journal("campaign.db")``, or pass the path as
    ``send_many(..., journal="campaign.db")``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        retry_failed: bool = False,
        resend_ambiguous: bool = False,
        flush_interval: float = 0.0,
    ) -> None:
        self.path = Path(path)
        self.retry_failed = retry_failed
        self.resend_ambiguous = resend_ambiguous
        self._flush_interval = flush_interval
        self._pending: list[Row] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "gupshup-journal")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._resuming = False
        self._closing = False

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # Opening and closing -----------------------------------------------------------------

    async def open(self) -> None:
        """Open (or create) the file. Raises `JournalError` for a file that is not a journal
        of this format, and `OSError` for a path that cannot be written.
        """
        if self._writer is not None:
            return
        self._writer = await self._in_thread(self._connect)
        self._reader = sqlite3.connect(self.path)
        self._resuming = self._reader.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None
        self._flusher = asyncio.create_task(self._flush_forever(), name="gupshup-journal")

    def _connect(self) -> sqlite3.Connection:
        if not self.path.parent.is_dir():
            raise JournalError(f"{self.path}: the folder {self.path.parent} does not exist")
        try:
            connection = sqlite3.connect(
                self.path, check_same_thread=False, isolation_level=None, timeout=30.0
            )
        except sqlite3.Error as refused:
            raise JournalError(f"{self.path}: cannot open it ({refused})") from None
        try:
            _prepare(connection, self.path)
        except sqlite3.OperationalError as refused:  # locked, read-only, no room
            connection.close()
            raise JournalError(f"{self.path}: cannot write to it ({refused})") from None
        except sqlite3.DatabaseError as broken:
            connection.close()
            raise JournalError(f"{self.path} is not a journal ({broken})") from None
        except BaseException:
            connection.close()
            raise
        return connection

    async def close(self) -> None:
        if self._writer is None:
            return
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            await self._flusher  # it writes what is pending, then stops
        await self.flush()
        writer, self._writer = self._writer, None
        await self._in_thread(writer.close)
        if self._reader is not None:
            self._reader.close()
        self._thread.shutdown(wait=True)

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    # Reading -------------------------------------------------------------------------------

    @property
    def campaign(self) -> str:
        """This journal's campaign id: sends carry ``<campaign>/<key>`` as callback data."""
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        row = self._reader.execute("SELECT value FROM meta WHERE name = 'campaign'").fetchone()
        return str(row[0])

    @property
    def resuming(self) -> bool:
        """Whether the journal held items when it was opened: this run resumes another."""
        return self._resuming

    def failures(self) -> list[tuple[str, int | None]]:
        """(recipient, error code) of every message whose status said it failed."""
        if self._reader is None:
            return []
        rows = self._reader.execute(
            "SELECT recipient, error_code FROM deliveries WHERE status = 'failed'"
        )
        return [(str(recipient), code) for recipient, code in rows]

    def knows_any(self, keys: list[str]) -> bool:
        """Whether any of ``keys`` is recorded (to tell a resume from another campaign)."""
        if self._reader is None or not keys:
            return False
        marks = ",".join("?" * len(keys))
        query = f"SELECT 1 FROM items WHERE key IN ({marks}) LIMIT 1"
        return self._reader.execute(query, keys).fetchone() is not None

    def earlier(self, key: str, recipient: str, fingerprint: str) -> Recorded | None:
        """What an earlier run recorded of an item, or None to send it.

        An item whose key was recorded with another recipient or another message gets a
        `ValidationError` at ``key`` (``conflict``: the journal keeps the earlier record).
        """
        if not self._resuming or self._reader is None:
            return None
        row = self._reader.execute(
            "SELECT state, recipient, fingerprint, message_id, error FROM items WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        state, was_to, was_message, message_id, error = row
        if (was_to, was_message) != (recipient, fingerprint):
            what = "recipient" if was_to != recipient else "message"
            problem = ValidationError.at(
                "key",
                f"{key!r} was used for another {what} in an earlier run of this journal "
                f"({was_to}, message {was_message}; now {recipient}, message {fingerprint}): "
                "give each item its own key",
            )
            return Recorded(error=problem, conflict=True)
        if state == "sent":
            result = SendResult(message_id=message_id, wa_id=None, to=recipient, attempts=0)
            return Recorded(result=result)
        if state == "failed" and self.retry_failed:
            return None
        if state in ("in_flight", "ambiguous"):
            if self.resend_ambiguous:
                return None
            state = "ambiguous"
        return Recorded(error=EarlierOutcome(state, error))

    def states(self) -> dict[str, int]:
        """How many items are in each state (reads what has been committed)."""
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        rows = self._reader.execute("SELECT state, COUNT(*) FROM items GROUP BY state")
        return dict(rows.fetchall())

    # Writing -------------------------------------------------------------------------------

    async def in_flight(self, key: str, recipient: str, fingerprint: str) -> None:
        """Record that ``key``'s request is about to leave, and wait until that is durable."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._record(key, recipient, fingerprint, "in_flight", None, None, 0)
        await waiter

    def sent(self, key: str, recipient: str, fingerprint: str, result: SendResult) -> None:
        self._record(key, recipient, fingerprint, "sent", result.message_id, None, result.attempts)

    def failed(self, key: str, recipient: str, fingerprint: str, error: GupshupError) -> None:
        """The item failed; ``ambiguous`` when any attempt may have delivered it."""
        state = "ambiguous" if error.ambiguous or error.ambiguous_attempts else "failed"
        detail = f"{type(error).__name__}: {error}"
        self._record(key, recipient, fingerprint, state, None, detail, error.attempts)

    def unsent(self, key: str) -> None:
        """The run stopped before ``key``'s request left: forget its in-flight mark, so the
        next run sends it.
        """
        self._record(key, "", "", None, None, None, 0)

    def ambiguous(self, key: str, reason: str) -> None:
        """The run stopped while ``key``'s request may have been on the wire."""
        self._record(key, "", "", "ambiguous", None, reason, 0)

    def _record(
        self,
        key: str,
        recipient: str,
        fingerprint: str,
        state: str | None,
        message_id: str | None,
        error: str | None,
        attempts: int,
    ) -> None:
        self._pending.append(
            (key, recipient, fingerprint, state, message_id, error, attempts, time.time())
        )
        self._wake.set()

    async def flush(self) -> None:
        """Write everything recorded so far, and wait until it is committed."""
        while self._pending or self._waiters:
            await self._write_batch()
        # The writer thread commits in order: once this no-op has run, so has every commit
        # submitted before it, including one the flusher may still be waiting on.
        await self._in_thread(_nothing)

    async def _flush_forever(self) -> None:
        while not self._closing:
            await self._wake.wait()
            if not self._closing:
                # Let what this tick records join the batch. Commits then run back to back:
                # what arrives during one is the next one's batch, so batches grow with load.
                await asyncio.sleep(self._flush_interval)
            await self._write_batch()

    async def _write_batch(self) -> None:
        self._wake.clear()
        batch, self._pending = self._pending, []
        waiters, self._waiters = self._waiters, []
        if batch:
            # Shielded: were the waiting task cancelled, asyncio would cancel the executor's
            # work item too, and a batch not yet started would never be written.
            await asyncio.shield(self._in_thread(self._commit, batch))
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _commit(self, batch: list[Row]) -> None:
        writer = self._writer
        assert writer is not None
        writer.execute("BEGIN IMMEDIATE")  # a receiver may write deliveries at the same time
        try:
            for row in batch:  # in order: a mark, then its final state, within one batch
                if row[3] is None:
                    writer.execute(_FORGET, (row[0],))
                else:
                    writer.execute(_UPSERT, row)
                    if row[3] == "sent" and row[4]:  # accepted: a delivery to follow
                        writer.execute(_ACCEPTED, (row[4], row[0], row[1], row[7]))
        except BaseException:
            writer.execute("ROLLBACK")
            raise
        writer.execute("COMMIT")


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    """Make ``connection``'s file a journal of this format, or refuse it."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    if version != FORMAT and tables:
        has_items = ("items",) in tables and connection.execute(
            "SELECT 1 FROM items LIMIT 1"
        ).fetchone()
        if has_items or ("items",) not in tables:
            raise JournalError(
                f"{path} is a journal of format {version}, written by an earlier version of "
                f"gupshup-async (this one writes format {FORMAT} and knows items by recipient "
                "and message, not position): finish that campaign with the version that "
                "started it, or start a new journal"
                if ("items",) in tables
                else f"{path} is an SQLite file, but not a journal"
            )
        connection.execute("DROP TABLE items")  # an empty journal of the old format
    connection.execute("PRAGMA journal_mode=WAL")
    # FULL: a commit is on disk before the request it marks leaves, power cut or not.
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(_SCHEMA)
    connection.executescript(_DELIVERIES)
    connection.execute(
        "INSERT INTO meta (name, value) VALUES ('campaign', ?) ON CONFLICT (name) DO NOTHING",
        (uuid.uuid4().hex[:12],),
    )
    connection.execute(f"PRAGMA user_version={FORMAT}")


def _nothing() -> None:
    pass


# Deliveries: what the status webhooks say --------------------------------------------------


@attrs.frozen
class Delivery:
    """One accepted message and the latest that is known of it."""

    gs_id: str
    wamid: str | None
    key: str | None
    recipient: str
    status: str
    error_code: int | None
    error_title: str | None


@attrs.frozen
class DeliveryReport:
    """How a campaign's messages fared: counts by latest status, failures by error code."""

    campaign: str
    accepted: int
    by_status: dict[str, int]
    failed_by_code: dict[int | None, int]

    @property
    def without_status(self) -> int:
        return self.by_status.get("accepted", 0)

    @classmethod
    def merge(cls, reports: list[DeliveryReport]) -> DeliveryReport:
        """One report of several journals: the shards of one campaign."""
        if len(reports) == 1:
            return reports[0]
        by_status: collections.Counter[str] = collections.Counter()
        failed: collections.Counter[int | None] = collections.Counter()
        for report in reports:
            by_status.update(report.by_status)
            failed.update(report.failed_by_code)
        campaign = "+".join(report.campaign for report in reports)
        accepted = sum(report.accepted for report in reports)
        return cls(campaign, accepted, dict(by_status), dict(failed))

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "accepted": self.accepted,
            "by_status": self.by_status,
            "without_status": self.without_status,
            "failed": [
                {
                    "code": code,
                    "count": count,
                    "meaning": CODES[code].meaning if code in CODES else None,
                    "what_to_do": CODES[code].todo if code in CODES else None,
                }
                for code, count in sorted(self.failed_by_code.items(), key=lambda kv: -kv[1])
            ],
        }


class DeliveryStore:
    """The deliveries table of a campaign's journal, as the webhook receiver writes it and a
    report reads it. Plain SQLite calls: run them in a thread from async code.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._connection = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        try:
            _prepare(self._connection, self.path)
        except sqlite3.DatabaseError as broken:
            self._connection.close()
            raise JournalError(f"{self.path} is not a journal ({broken})") from None
        # Made once with the journal: asked for every status, never changes.
        found = self._connection.execute("SELECT value FROM meta WHERE name = 'campaign'")
        self.campaign: str = str(found.fetchone()[0])

    def close(self) -> None:
        self._connection.close()

    def __repr__(self) -> str:
        return f"DeliveryStore({str(self.path)!r})"

    def record(self, events: Iterable[Event]) -> int:
        """Record what the statuses among ``events`` say; how many matched a sent message."""
        matched = 0
        db = self._connection
        db.execute("BEGIN IMMEDIATE")  # take the write lock now: the campaign writes too
        try:
            for event in events:
                if isinstance(event, StatusUpdate) and self._record_status(event):
                    matched += 1
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return matched

    def _record_status(self, update: StatusUpdate) -> bool:
        row = self._row_for(update)
        if row is None:
            campaign, _, key = (update.callback_data or "").partition("/")
            if not update.gs_id or not key or campaign != self.campaign:
                return False  # not one of this campaign's messages
            # Ahead of the send's own record (or an earlier attempt's twin): keep it under
            # Gupshup's id; the send's record fills in the rest.
            self._connection.execute(
                "INSERT INTO deliveries (gs_id, item_key, recipient, accepted) VALUES (?, ?, ?, ?)",
                (update.gs_id, key, update.recipient or "", time.time()),
            )
            row = (update.gs_id, "accepted")
        gs_id, known = row
        newer = update.status == "failed" or _RANK.get(update.status, 3) > _RANK.get(known, 0)
        self._connection.execute(
            "UPDATE deliveries SET wamid = coalesce(wamid, ?), status = coalesce(?, status), "
            "status_at = coalesce(?, status_at), error_code = coalesce(?, error_code), "
            "error_title = coalesce(?, error_title) WHERE gs_id = ?",
            (
                update.message_id,
                update.status if newer else None,  # an older status, come late: ignored
                update.timestamp,
                update.error_code,
                update.error_title,
                gs_id,
            ),
        )
        return True

    def _row_for(self, update: StatusUpdate) -> tuple[str, str] | None:
        db = self._connection
        if update.gs_id:
            row = db.execute(
                "SELECT gs_id, status FROM deliveries WHERE gs_id = ?", (update.gs_id,)
            ).fetchone()
            if row:
                return (row[0], row[1])
        row = db.execute(
            "SELECT gs_id, status FROM deliveries WHERE wamid = ?", (update.message_id,)
        ).fetchone()
        if row:
            return (row[0], row[1])
        campaign, _, key = (update.callback_data or "").partition("/")
        if key and campaign == self.campaign:
            row = db.execute(
                "SELECT gs_id, status FROM deliveries WHERE item_key = ? "
                "ORDER BY accepted DESC LIMIT 1",
                (key,),
            ).fetchone()
            if row:
                return (row[0], row[1])
        return None

    def find(self, message_id: str) -> Delivery | None:
        """The sent message ``message_id`` names: Gupshup's id or Meta's (a reply's
        ``context_id``), also after Gupshup stopped sending ``gs_id``.
        """
        row = self._connection.execute(
            "SELECT gs_id, wamid, item_key, recipient, status, error_code, error_title "
            "FROM deliveries WHERE gs_id = ? OR wamid = ?",
            (message_id, message_id),
        ).fetchone()
        return Delivery(*row) if row else None

    def answered(self, event: FromUser) -> Delivery | None:
        """The sent message a user's message answers: the one its ``context_id`` names; for a
        template's quick-reply tap without one, the latest message sent to that user.
        """
        if event.context_id:
            found = self.find(event.context_id)
            if found is not None:
                return found
        if not isinstance(event, TemplateButtonReply):
            return None
        row = self._connection.execute(
            "SELECT gs_id, wamid, item_key, recipient, status, error_code, error_title "
            "FROM deliveries WHERE recipient = ? ORDER BY accepted DESC LIMIT 1",
            (event.sender,),
        ).fetchone()
        return Delivery(*row) if row else None

    def report(self) -> DeliveryReport:
        db = self._connection
        by_status = dict(db.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status"))
        failed = dict(
            db.execute(
                "SELECT error_code, COUNT(*) FROM deliveries WHERE status = 'failed' "
                "GROUP BY error_code"
            )
        )
        accepted = sum(by_status.values())
        return DeliveryReport(self.campaign, accepted, by_status, failed)
