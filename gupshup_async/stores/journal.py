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
import concurrent.futures
import fcntl
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import attrs

from gupshup_async.errors import (
    EarlierOutcome,
    GupshupError,
    JournalError,
    ValidationError,
)
from gupshup_async.results import SendResult
from gupshup_async.stores._sqlite import (
    connect,
    open_read_only,
    prepare_journal,
    transaction,
)
from gupshup_async.stores.statuses import UNCONFIRMED_AFTER, Seen, seen_in
from gupshup_async.tags import Tag

__all__ = ["Journal", "Recorded", "Uncertain"]

_UPSERT = """
INSERT INTO items
    (key, recipient, fingerprint, state, message_id, error, attempts, updated, confirmed)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (key) DO UPDATE SET
    state = excluded.state, message_id = excluded.message_id,
    error = excluded.error, attempts = max(attempts, excluded.attempts),
    updated = excluded.updated, confirmed = excluded.confirmed
"""
_FORGET = "DELETE FROM items WHERE key = ? AND state = 'in_flight'"

# A status may come before the journal's own record of the send (the receiver is another
# process): then the status made the row, and the send fills in which item it was.
_ACCEPTED = """
INSERT INTO deliveries (gs_id, item_key, recipient, accepted, tag) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (gs_id) DO UPDATE SET
    item_key = excluded.item_key, recipient = excluded.recipient, accepted = excluded.accepted,
    tag = coalesce(tag, excluded.tag)
"""
# (key, recipient, fingerprint, state, message_id, error, attempts, updated, confirmed, tag);
# state None: forget. ``attempts`` is the number of the item's latest attempt over all runs (its
# tag's); ``confirmed``: sent on a status's word, its answer never came.
_Mark = tuple[
    str, str, str, "str | None", "str | None", "str | None", int, float, int, "str | None"
]


@attrs.frozen
class Recorded:
    """What the journal holds of an item dealt with in an earlier run: its result (sent), or
    its error (failed, ambiguous); ``conflict`` when the item's key was used for another
    recipient or message (the error says which; the earlier record is kept).
    """

    result: SendResult | None = None
    error: GupshupError | None = None
    conflict: bool = False
    #: For an item whose request may have gone out and that no status has named yet: the tags
    #: of its attempts, and when the last one was made.
    uncertain: Uncertain | None = None


@attrs.frozen
class Uncertain:
    """An item an earlier run left in flight or ambiguous, with no status for it yet."""

    tags: tuple[str, ...]
    attempts: int
    since: float


class Journal:
    """The SQLite journal of a bulk run: ``Journal("campaign.db")``, or pass the path as
    ``send_many(..., journal="campaign.db")``.

    Resuming, an item an earlier run left in flight or ambiguous is looked up in the statuses
    the journal holds (a `Receiver` writing the same file): a status of any of its attempts
    means it was sent, and it is recorded so. With none, it stays ``ambiguous`` (not sent again)
    for ``unconfirmed_after`` seconds after its last attempt, and is ``unconfirmed`` after that;
    ``resend_unconfirmed=True`` sends the unconfirmed items again (waiting out the rest of
    ``unconfirmed_after`` for the younger ones), and only when statuses are being recorded in
    this journal at all (else `JournalError`: without a receiver, no status proves nothing).

    ``name``: the campaign's name, stored in the journal by its first run; a later run with
    another name is refused with `JournalError` (a journal is one campaign's: resuming it with
    rows in any order, added or removed, is never refused). None: not checked.

    One run at a time: opening a journal another run has open (in this process or another)
    raises `JournalError` naming that process. When the journal cannot be written (a full disk,
    an I/O error, a corrupt page, another writer's lock held past ``timeout`` seconds), no
    request whose in-flight mark was not stored leaves, and the run ends with `JournalError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        retry_failed: bool = False,
        resend_ambiguous: bool = False,
        resend_unconfirmed: bool = False,
        unconfirmed_after: float = UNCONFIRMED_AFTER,
        flush_interval: float = 0.0,
        timeout: float = 30.0,
    ) -> None:
        if name is not None and not name.strip():
            raise ValueError("a campaign's name must not be empty")
        if not unconfirmed_after >= 0:
            raise ValueError(f"unconfirmed_after must not be negative, got {unconfirmed_after!r}")
        self.resend_unconfirmed = resend_unconfirmed
        self.unconfirmed_after = unconfirmed_after
        self.path = Path(path)
        self.name = name
        self.retry_failed = retry_failed
        self.resend_ambiguous = resend_ambiguous
        self._flush_interval = flush_interval
        self._timeout = timeout
        self._pending: list[_Mark] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "gupshup-journal")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._resuming = False
        self._closing = False
        self._lock: _RunLock | None = None
        #: Set when a write failed: every later mark raises it, and the run stops.
        self.failure: JournalError | None = None

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # Opening and closing -----------------------------------------------------------------

    async def open(self) -> None:
        """Open (or create) the file. Raises `JournalError` for a file that is not a journal
        of this format, and `OSError` for a path that cannot be written.
        """
        if self._writer is not None:
            return
        self._lock = _RunLock.take(self.path)
        try:
            self._writer = await self._in_thread(self._connect)
        except BaseException:
            self._lock.release()
            self._lock = None
            raise
        self._reader = sqlite3.connect(self.path)
        self._resuming = self._reader.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None
        if self.name is not None:
            try:
                await self._in_thread(self._claim_name, self.name)
            except BaseException:
                await self.close()
                raise
        if self.resend_unconfirmed and self._uncertain_without_statuses():
            await self.close()
            raise JournalError(
                f"{self.path}: no status was ever recorded in this journal, so none can show "
                "which of its uncertain items never arrived: resending them could message "
                "people twice. Run a receiver that stores statuses in this journal "
                "(`gupshup-async receive --journal`), or resend them all knowingly "
                "(--resend-ambiguous)"
            )
        self._flusher = asyncio.create_task(self._flush_forever(), name="gupshup-journal")

    def _connect(self) -> sqlite3.Connection:
        if not self.path.parent.is_dir():
            raise JournalError(f"{self.path}: the folder {self.path.parent} does not exist")
        try:
            connection = connect(self.path, timeout=self._timeout)
        except sqlite3.Error as refused:
            raise JournalError(f"{self.path}: cannot open it ({refused})") from None
        try:
            prepare_journal(connection, self.path)
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

    def _claim_name(self, name: str) -> None:
        """In the writer's thread: store ``name`` as the campaign's, or refuse another's."""
        assert self._writer is not None
        with transaction(self._writer):
            row = self._writer.execute("SELECT value FROM meta WHERE name = 'name'").fetchone()
            if row is None:
                self._writer.execute("INSERT INTO meta (name, value) VALUES ('name', ?)", (name,))
                return
        if row[0] != name:
            raise JournalError(
                f"{self.path} is the journal of the campaign {row[0]!r}, not {name!r}: give a "
                f"new journal for a new campaign, or the name {row[0]!r} to resume that one"
            )

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
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    # Reading -------------------------------------------------------------------------------

    @staticmethod
    def sent_before(path: str | os.PathLike[str]) -> dict[str, set[str]]:
        """Recipient -> fingerprints of the messages the journal at ``path`` sent them (or may
        have: ambiguous, in flight), read without writing; empty when there is no file yet.
        """
        if not Path(path).exists():
            return {}
        db = open_read_only(path)
        try:
            rows = db.execute(
                "SELECT recipient, fingerprint FROM items WHERE state != 'failed'"
            ).fetchall()
        except sqlite3.DatabaseError as broken:
            raise JournalError(f"{path} is not a journal ({broken})") from None
        finally:
            db.close()
        found: dict[str, set[str]] = {}
        for recipient, printed in rows:
            found.setdefault(str(recipient), set()).add(str(printed))
        return found

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
        """(recipient, error code) of every message whose status said it failed, under each id
        the recipient is known by.
        """
        if self._reader is None:
            return []
        rows = self._reader.execute(
            "WITH failed AS (SELECT recipient, error_code FROM deliveries WHERE status = 'failed') "
            "SELECT recipient, error_code FROM failed UNION "
            "SELECT links.b, error_code FROM failed JOIN links ON links.a = failed.recipient"
        )
        return [(str(recipient), code) for recipient, code in rows]

    def opted_out(self, category: str = "marketing_messages") -> set[str]:
        """The users whose latest preference stopped ``category`` (a receiver records them),
        under each id they are known by.
        """
        if self._reader is None:
            return set()
        rows = self._reader.execute(
            "WITH stopped AS (SELECT user FROM preferences WHERE category = ? AND value = 'stop') "
            "SELECT user FROM stopped UNION "
            "SELECT links.b FROM stopped JOIN links ON links.a = stopped.user",
            (category,),
        )
        return {str(user) for (user,) in rows}

    def moved(self) -> dict[str, str]:
        """The ids users left (a number or user id changed), each to the id it became."""
        if self._reader is None:
            return {}
        return {
            str(old): str(new) for old, new in self._reader.execute("SELECT old, new FROM moves")
        }

    def template_states(self) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        """(name, language) -> (status, category) of the templates updates named."""
        if self._reader is None:
            return {}
        rows = self._reader.execute("SELECT name, language, status, category FROM templates")
        return {(str(n), str(lang)): (status, category) for n, lang, status, category in rows}

    def earlier(self, key: str, recipient: str, fingerprint: str) -> Recorded | None:
        """What an earlier run recorded of an item, or None to send it.

        An item whose key was recorded with another recipient or another message gets a
        `ValidationError` at ``key`` (``conflict``: the journal keeps the earlier record).
        """
        if not self._resuming or self._reader is None:
            return None
        row = self._reader.execute(
            "SELECT state, recipient, fingerprint, message_id, error, attempts, updated "
            "FROM items WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        state, was_to, was_message, message_id, error, attempts, updated = row
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
            return self._uncertain(key, recipient, attempts, updated, error)
        return Recorded(error=EarlierOutcome(state, error))

    def _uncertain(
        self, key: str, recipient: str, attempts: int, updated: float, error: str | None
    ) -> Recorded | None:
        """An item whose request may have gone out: a status of any of its attempts says it
        did; otherwise the options and the time since its last attempt decide.
        """
        tags = tuple(Tag(self.campaign, key).upto(max(attempts, 1)))
        seen = self.statuses_of(tags)
        if seen:
            return Recorded(result=seen[0].result(recipient, attempts=0))
        uncertain = Uncertain(tags, max(attempts, 1), updated)
        if self.resend_ambiguous:
            return None
        state = "ambiguous"
        if time.time() - updated >= self.unconfirmed_after and self._statuses_recorded():
            state = "unconfirmed"
        return Recorded(error=EarlierOutcome(state, error), uncertain=uncertain)

    def _statuses_recorded(self) -> bool:
        assert self._reader is not None
        found = self._reader.execute("SELECT 1 FROM deliveries WHERE seen_at IS NOT NULL LIMIT 1")
        return found.fetchone() is not None

    def attempts_of(self, key: str) -> int:
        """The number of ``key``'s latest attempt in earlier runs (0: none)."""
        if not self._resuming or self._reader is None:
            return 0
        row = self._reader.execute("SELECT attempts FROM items WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _uncertain_without_statuses(self) -> bool:
        assert self._reader is not None
        uncertain = self._reader.execute(
            "SELECT 1 FROM items WHERE state IN ('in_flight', 'ambiguous') LIMIT 1"
        ).fetchone()
        return uncertain is not None and not self._statuses_recorded()

    def statuses_of(self, tags: Iterable[str]) -> list[Seen]:
        """The statuses this journal holds for any of ``tags`` (a receiver writes them)."""
        if self._reader is None:
            return []
        return seen_in(self._reader, list(tags))

    def states(self) -> dict[str, int]:
        """How many items are in each state (reads what has been committed)."""
        if self._reader is None:
            raise RuntimeError("the journal is not open")
        rows = self._reader.execute("SELECT state, COUNT(*) FROM items GROUP BY state")
        return dict(rows.fetchall())

    # Writing -------------------------------------------------------------------------------

    async def in_flight(self, key: str, recipient: str, fingerprint: str, attempt: int = 1) -> None:
        """Record that ``key``'s request (its attempt number ``attempt``, over all runs) is about
        to leave, and wait until that is durable. Raises `JournalError` when the journal cannot
        be written: the request must not leave.
        """
        if self.failure is not None:
            raise self.failure
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._record(key, recipient, fingerprint, "in_flight", None, None, attempt)
        await waiter

    def sent(self, key: str, recipient: str, fingerprint: str, result: SendResult) -> None:
        self._record(
            key,
            recipient,
            fingerprint,
            "sent",
            result.message_id,
            None,
            result.attempts,
            result.callback_data,
            confirmed=result.confirmed,
        )

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
        tag: str | None = None,
        *,
        confirmed: bool = False,
    ) -> None:
        self._pending.append(
            (
                key,
                recipient,
                fingerprint,
                state,
                message_id,
                error,
                attempts,
                time.time(),
                int(confirmed),
                tag,
            )
        )
        self._wake.set()

    async def flush(self) -> None:
        """Write everything recorded so far, and wait until it is committed (or the journal
        has failed: see ``failure``).
        """
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
        if batch and self.failure is None:
            try:
                # Shielded: were the waiting task cancelled, asyncio would cancel the executor's
                # work item too, and a batch not yet started would never be written.
                await asyncio.shield(self._in_thread(self._commit, batch))
            except (sqlite3.Error, OSError) as cause:
                # A full disk, an I/O error, a corrupt page, a lock held past the timeout: no
                # mark of this batch is on disk, so none of its requests may leave.
                self.failure = JournalError(f"{self.path}: the journal cannot be written ({cause})")
        for waiter in waiters:
            if not waiter.done():
                if self.failure is not None:
                    waiter.set_exception(self.failure)
                else:
                    waiter.set_result(None)

    def _commit(self, batch: list[_Mark]) -> None:
        writer = self._writer
        assert writer is not None
        with transaction(writer):  # a receiver may write deliveries at the same time
            for row in batch:  # in order: a mark, then its final state, within one batch
                if row[3] is None:
                    writer.execute(_FORGET, (row[0],))
                else:
                    writer.execute(_UPSERT, row[:9])
                    if row[3] == "sent" and row[4]:  # accepted: a delivery to follow
                        writer.execute(_ACCEPTED, (row[4], row[0], row[1], row[7], row[9]))


class _RunLock:
    """One run per journal: an exclusive lock the operating system holds on
    ``<journal>.lock`` for the run's lifetime and drops when the process dies, however it dies.
    The file may stay behind; a lock never does. The holder's process id is written in it, to
    name who has the journal.
    """

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle

    @classmethod
    def take(cls, journal: Path) -> _RunLock:
        path = journal.with_name(journal.name + ".lock")
        try:
            handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115  (held for the run)
        except OSError as refused:
            raise JournalError(f"{journal}: cannot take its lock ({refused.strerror})") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            who = f" by process {holder}" if holder.isdigit() else ""
            raise JournalError(
                f"{journal} is in use{who}: one run per journal. Wait for that run to end, or "
                "stop it, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return cls(handle)

    def release(self) -> None:
        fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        self._handle.close()


def _nothing() -> None:
    pass
