"""A durable record of a bulk run, in SQLite, so that an interrupted campaign resumes without
messaging anyone twice.

Each item is recorded by its key: ``in_flight`` before its request leaves, then ``sent`` (with
the message id), ``failed`` (with the error) or ``ambiguous``. The ``in_flight`` mark is
committed before the request is sent (the marks that arrive while one commit runs share the
next, so this costs about a commit's time of latency, and batches grow with the load); the
final states are written in batches without waiting. A crash at any moment leaves a
consistent file (SQLite transactions, WAL): an item whose final state was lost stays
``in_flight``, and the next run reports it as ambiguous instead of sending it again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from gupshup_async.errors import GupshupError
from gupshup_async.results import SendResult

__all__ = ["EarlierOutcome", "Journal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'sent', 'failed', 'ambiguous')),
    message_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
)
"""
_UPSERT = """
INSERT INTO items (key, recipient, state, message_id, error, attempts, updated)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    recipient = excluded.recipient, state = excluded.state, message_id = excluded.message_id,
    error = excluded.error, attempts = excluded.attempts, updated = excluded.updated
"""

Row = tuple[str, str, str, "str | None", "str | None", int, float]


class EarlierOutcome(GupshupError):
    """The journal says this item was dealt with in an earlier run, and it was not sent again.

    ``state`` is ``failed`` (rerun with ``retry_failed=True`` to try again) or ``ambiguous``
    (in flight when that run stopped: it may have been delivered; ``resend_ambiguous=True``
    sends it again).
    """

    def __init__(self, state: str, detail: str | None) -> None:
        super().__init__(f"{state} in an earlier run" + (f": {detail}" if detail else ""))
        self.state = state
        self.ambiguous = state == "ambiguous"


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
        if self._writer is not None:
            return
        self._writer = await self._in_thread(self._connect)
        self._reader = sqlite3.connect(self.path)
        self._resuming = self._reader.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None
        self._flusher = asyncio.create_task(self._flush_forever(), name="gupshup-journal")

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
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

    def earlier(self, key: str) -> dict[str, Any] | None:
        """The outcome fields of an item dealt with in an earlier run, or None to send it."""
        if not self._resuming or self._reader is None:
            return None
        row = self._reader.execute(
            "SELECT state, recipient, message_id, error FROM items WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        state, recipient, message_id, error = row
        if state == "sent":
            result = SendResult(message_id=message_id, wa_id=None, to=recipient, attempts=0)
            return {"result": result, "skipped": True}
        if state == "failed" and self.retry_failed:
            return None
        if state in ("in_flight", "ambiguous"):
            if self.resend_ambiguous:
                return None
            state = "ambiguous"
        return {"error": EarlierOutcome(state, error), "skipped": True}

    def states(self) -> dict[str, int]:
        """How many items are in each state (reads what has been committed)."""
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        rows = self._reader.execute("SELECT state, COUNT(*) FROM items GROUP BY state")
        return dict(rows.fetchall())

    # Writing -------------------------------------------------------------------------------

    async def in_flight(self, key: str, recipient: str) -> None:
        """Record that ``key``'s request is about to leave, and wait until that is durable."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._record(key, recipient, "in_flight", None, None, 0)
        await waiter

    def sent(self, key: str, recipient: str, result: SendResult) -> None:
        self._record(key, recipient, "sent", result.message_id, None, result.attempts)

    def failed(self, key: str, recipient: str, error: GupshupError) -> None:
        state = "ambiguous" if error.ambiguous else "failed"
        self._record(
            key, recipient, state, None, f"{type(error).__name__}: {error}", error.attempts
        )

    def unsent(self, key: str, reason: str) -> None:
        """The run stopped before ``key``'s request left: it failed, and was not delivered."""
        self._record(key, "", "failed", None, reason, 0)

    def ambiguous(self, key: str, reason: str) -> None:
        self._record(key, "", "ambiguous", None, reason, 0)

    def _record(
        self,
        key: str,
        recipient: str,
        state: str,
        message_id: str | None,
        error: str | None,
        attempts: int,
    ) -> None:
        self._pending.append((key, recipient, state, message_id, error, attempts, time.time()))
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
        assert self._writer is not None
        with_recipient = [
            row if row[1] else (row[0], self._recipient_of(row[0]), *row[2:]) for row in batch
        ]
        self._writer.execute("BEGIN")
        try:
            self._writer.executemany(_UPSERT, with_recipient)
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    def _recipient_of(self, key: str) -> str:
        assert self._writer is not None
        row = self._writer.execute("SELECT recipient FROM items WHERE key = ?", (key,)).fetchone()
        return row[0] if row else ""


def _nothing() -> None:
    pass
