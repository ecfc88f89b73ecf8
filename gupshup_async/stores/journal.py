"""A durable record of a bulk run, so that an interrupted campaign resumes without messaging
anyone twice: an SQLite file (the embedded default) or, for campaigns run on many hosts, a
PostgreSQL database (`gupshup_async.stores.postgres`), behind the one `Journal`.

Each item is recorded by its key, with its recipient and the fingerprint of its message:
``in_flight`` when its request is about to leave (after the rate limiter let it go), then
``sent`` (with the message id), ``failed`` (with the error) or ``ambiguous``. An item whose turn
never came is not recorded, so the next run sends it. The ``in_flight`` mark is committed, and
synced to disk (``synchronous=FULL``: a power cut cannot lose it), before the request is sent;
the marks that arrive while one commit runs share the next, so batches grow with the load. The
final states are written in batches without waiting. A crash at any moment leaves a consistent
file (SQLite transactions, WAL; PostgreSQL's own): an item whose final state was lost stays
``in_flight``, and the next run reports it as ambiguous instead of sending it again.

`Journal` holds what is the same on every engine (the batching, the promises, what a resumed
item becomes); a `JournalStore` holds the records (`SqliteJournalStore` here, the PostgreSQL one
beside it). A store's writes run in the journal's one thread, in order; its reads answer at
once, from the file or from what it loaded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import functools
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Protocol

import attrs

from gupshup_async.errors import (
    EarlierOutcome,
    GupshupError,
    JournalError,
    ValidationError,
)
from gupshup_async.results import SendResult
from gupshup_async.stores._postgres import is_database
from gupshup_async.stores._rows import ItemRow, Mark
from gupshup_async.stores._sqlite import (
    connect,
    open_read_only,
    prepare_journal,
    transaction,
)
from gupshup_async.stores.statuses import (
    UNCONFIRMED_AFTER,
    JournalStatuses,
    Seen,
    StatusReader,
    seen_in,
)
from gupshup_async.tags import Tag

__all__ = ["Journal", "JournalStore", "Recorded", "SqliteJournalStore", "Uncertain"]

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


class JournalStore(Protocol):
    """Where a `Journal` keeps its records. ``open``, ``commit``, ``refresh`` and ``close``
    run in the journal's thread, one at a time, in order; the reads are made on the event loop
    and answer without waiting on a network (from a local file, or from what was loaded).
    """

    #: Where the records are, as messages name it (a path; a URL without its password).
    where: str

    def open(self, name: str | None, *, resend_unconfirmed: bool) -> tuple[str, bool]:
        """Take the run's lock, make or check the records, claim ``name``: the campaign's id,
        and whether it holds items already (this run resumes another). Raises `JournalError`.
        """

    def commit(self, batch: list[Mark]) -> None:
        """Write ``batch`` in one transaction, durable when it returns. Raises
        `JournalError` (nothing of the batch written).
        """

    def refresh(self) -> None:
        """Read again what other processes record (the statuses' feedback)."""

    def close(self) -> None:
        """Close, releasing the run's lock."""

    def item(self, key: str) -> ItemRow | None: ...

    def statuses_of(self, tags: list[str]) -> list[Seen]: ...

    def statuses_recorded(self) -> bool:
        """Whether any status was ever recorded where this journal's campaign can see it."""

    def failures(self) -> list[tuple[str, int | None]]: ...

    def opted_out(self, category: str) -> set[str]: ...

    def moved(self) -> dict[str, str]: ...

    def template_states(self) -> dict[tuple[str, str], tuple[str | None, str | None]]: ...

    def states(self) -> dict[str, int]: ...

    def status_source(self) -> StatusReader:
        """A source of the statuses receivers record, for attempts still unconfirmed."""


class Journal:
    """The journal of a bulk run: ``Journal("campaign.db")`` (an SQLite file), or
    ``Journal("postgresql://host/db", name="spring-sale")`` (a PostgreSQL database, for
    campaigns on many hosts; ``pip install 'gupshup-async[postgres]'``); or pass either as
    ``send_many(..., journal=...)``.

    Resuming, an item an earlier run left in flight or ambiguous is looked up in the statuses
    the journal holds (a `Receiver` writing the same file or database): a status of any of its
    attempts means it was sent, and it is recorded so. With none, it stays ``ambiguous`` (not
    sent again) for ``unconfirmed_after`` seconds after its last attempt, and is
    ``unconfirmed`` after that; ``resend_unconfirmed=True`` sends the unconfirmed items again
    (waiting out the rest of ``unconfirmed_after`` for the younger ones), and only when statuses
    are being recorded at all (else `JournalError`: without a receiver, no status proves
    nothing).

    ``name``: the campaign's name. A file stores it on its first run, and a later run with
    another name is refused with `JournalError` (a journal is one campaign's: resuming it with
    rows in any order, added or removed, is never refused); None: not checked. A database holds
    many campaigns and knows each by its name, which it needs. ``shard`` (a database only):
    which part of the campaign this run sends (``"2/4"``); the shards of one campaign run at
    once, each resumable on its own, and share one record, one report and one feedback.

    One run at a time: opening a journal another run has open (in this process or another; on
    any host, for a database) raises `JournalError` naming that process. When the journal
    cannot be written (a full disk, an I/O error, a corrupt page, another writer's lock held
    past ``timeout`` seconds, a database that went away), no request whose in-flight mark was
    not stored leaves, and the run ends with `JournalError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        shard: str | None = None,
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
        self.store: JournalStore
        #: The file, for an SQLite journal; None for a database.
        self.path: Path | None
        if is_database(path):
            from gupshup_async.stores.postgres import PostgresJournalStore

            if name is None:
                raise ValueError(
                    "a journal in a database holds many campaigns: give the campaign's name"
                )
            self.path = None
            self.store = PostgresJournalStore(str(path), name=name, shard=shard, timeout=timeout)
        else:
            if shard is not None:
                raise ValueError("shard= is for a journal in a database; a file is one shard's")
            self.path = Path(path)
            self.store = SqliteJournalStore(self.path, timeout=timeout)
        self.name = name
        self.shard = shard
        self.resend_unconfirmed = resend_unconfirmed
        self.unconfirmed_after = unconfirmed_after
        self.retry_failed = retry_failed
        self.resend_ambiguous = resend_ambiguous
        self._flush_interval = flush_interval
        self._pending: list[Mark] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "gupshup-journal")
        self._thread_done = False
        self._open = False
        self._campaign: str | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._resuming = False
        self._closing = False
        #: Set when a write failed: every later mark raises it, and the run stops.
        self.failure: JournalError | None = None

    def __repr__(self) -> str:
        return f"Journal({self.where!r})"

    @property
    def where(self) -> str:
        """Where the records are: the file, or the database's URL without its password."""
        return self.store.where

    # Opening and closing -----------------------------------------------------------------

    async def open(self) -> None:
        """Open (or create) the journal. Raises `JournalError` for a file that is not a
        journal of this format, a database that cannot be reached, a journal in use, and
        `OSError` for a path that cannot be written.
        """
        if self._open:
            return
        if self._thread_done:  # opened again after a run closed it
            self._thread = concurrent.futures.ThreadPoolExecutor(1, "gupshup-journal")
            self._thread_done = False
        self._campaign, self._resuming = await self._in_thread(
            functools.partial(
                self.store.open, self.name, resend_unconfirmed=self.resend_unconfirmed
            )
        )
        self._open = True
        self._closing = False
        self.failure = None  # a new run: what failed before is tried again
        self._flusher = asyncio.create_task(self._flush_forever(), name="gupshup-journal")

    async def close(self) -> None:
        if not self._open:
            return
        self._closing = True
        self._wake.set()
        if self._flusher is not None:
            await self._flusher  # it writes what is pending, then stops
        await self.flush()
        self._open = False
        await self._in_thread(self.store.close)
        self._thread.shutdown(wait=True)
        self._thread_done = True

    async def _in_thread(self, call: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)

    async def refresh(self) -> None:
        """Read again what receivers (in any process, on any host) recorded since: the
        feedback `failures`, `opted_out`, `moved` and `template_states` give. Raises
        `JournalError` when the journal cannot be read (and the run then stops).
        """
        if self._open and self.failure is None:
            try:
                await self._in_thread(self.store.refresh)
            except JournalError as failed:
                self.failure = failed
                raise

    # Reading -------------------------------------------------------------------------------

    @staticmethod
    def sent_before(path: str | os.PathLike[str], name: str | None = None) -> dict[str, set[str]]:
        """Recipient -> fingerprints of the messages the journal at ``path`` sent them (or may
        have: ambiguous, in flight), read without writing; empty when there is no journal yet.
        For a database, ``name`` is the campaign's.
        """
        if is_database(path):
            from gupshup_async.stores.postgres import sent_before

            if name is None:
                raise ValueError("a journal in a database needs the campaign's name")
            rows = sent_before(str(path), name)
        elif not Path(path).exists():
            return {}
        else:
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
        if self._campaign is None:
            raise RuntimeError("the journal is not open")
        return self._campaign

    @property
    def resuming(self) -> bool:
        """Whether the journal held items when it was opened: this run resumes another."""
        return self._resuming

    def status_source(self) -> StatusReader:
        """Where the statuses receivers record for this journal's campaign are read."""
        return self.store.status_source()

    def failures(self) -> list[tuple[str, int | None]]:
        """(recipient, error code) of every message whose status said it failed, under each id
        the recipient is known by. A database holds every campaign's: there, an account-level
        or window failure counts from this campaign only, a recipient's failure from any.
        """
        return self.store.failures() if self._open else []

    def opted_out(self, category: str = "marketing_messages") -> set[str]:
        """The users whose latest preference stopped ``category`` (a receiver records them),
        under each id they are known by.
        """
        return self.store.opted_out(category) if self._open else set()

    def moved(self) -> dict[str, str]:
        """The ids users left (a number or user id changed), each to the id it became."""
        return self.store.moved() if self._open else {}

    def template_states(self) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        """(name, language) -> (status, category) of the templates updates named."""
        return self.store.template_states() if self._open else {}

    def earlier(self, key: str, recipient: str, fingerprint: str) -> Recorded | None:
        """What an earlier run recorded of an item, or None to send it.

        An item whose key was recorded with another recipient or another message gets a
        `ValidationError` at ``key`` (``conflict``: the journal keeps the earlier record).
        """
        if not self._resuming or not self._open:
            return None
        row = self.store.item(key)
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
            result = SendResult(message_id=message_id or "", wa_id=None, to=recipient, attempts=0)
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
        if time.time() - updated >= self.unconfirmed_after and self.store.statuses_recorded():
            state = "unconfirmed"
        return Recorded(error=EarlierOutcome(state, error), uncertain=uncertain)

    def attempts_of(self, key: str) -> int:
        """The number of ``key``'s latest attempt in earlier runs (0: none)."""
        if not self._resuming or not self._open:
            return 0
        row = self.store.item(key)
        return int(row[5]) if row else 0

    def statuses_of(self, tags: Iterable[str]) -> list[Seen]:
        """The statuses this journal holds for any of ``tags`` (a receiver writes them)."""
        return self.store.statuses_of(list(tags)) if self._open else []

    def states(self) -> dict[str, int]:
        """How many items are in each state (what has been committed)."""
        if not self._open:
            raise RuntimeError("the journal is not open")
        return self.store.states()

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
                await asyncio.shield(self._in_thread(self.store.commit, batch))
            except JournalError as cause:
                # A full disk, an I/O error, a corrupt page, a lock held past the timeout, a
                # database gone: no mark of this batch is stored, so none of its requests may
                # leave.
                self.failure = cause
        for waiter in waiters:
            if not waiter.done():
                if self.failure is not None:
                    waiter.set_exception(self.failure)
                else:
                    waiter.set_result(None)


class SqliteJournalStore:
    """A journal in an SQLite file (and its ``.lock`` beside it)."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
        self.where = str(path)
        self._timeout = timeout
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._lock: _RunLock | None = None

    def open(self, name: str | None, *, resend_unconfirmed: bool) -> tuple[str, bool]:
        self._lock = _RunLock.take(self.path)
        try:
            self._writer = self._connect()
            # Read on the event loop's thread, written on the journal's: WAL keeps them apart.
            self._reader = sqlite3.connect(self.path, check_same_thread=False)
            resuming = self._reader.execute("SELECT 1 FROM items LIMIT 1").fetchone() is not None
            if name is not None:
                self._claim_name(name)
            if resend_unconfirmed and self._uncertain_without_statuses():
                raise JournalError(
                    f"{self.path}: no status was ever recorded in this journal, so none can "
                    "show which of its uncertain items never arrived: resending them could "
                    "message people twice. Run a receiver that stores statuses in this journal "
                    "(`gupshup-async receive --journal`), or resend them all knowingly "
                    "(--resend-ambiguous)"
                )
            row = self._reader.execute("SELECT value FROM meta WHERE name = 'campaign'")
            return str(row.fetchone()[0]), resuming
        except BaseException:
            self.close()
            raise

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
        """Store ``name`` as the campaign's, or refuse another's."""
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

    def close(self) -> None:
        for connection in (self._writer, self._reader):
            if connection is not None:
                connection.close()
        self._writer = self._reader = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def refresh(self) -> None:
        pass  # the reads below go to the file itself

    def status_source(self) -> StatusReader:
        return JournalStatuses(self.path)

    def commit(self, batch: list[Mark]) -> None:
        writer = self._writer
        assert writer is not None
        try:
            with transaction(writer):  # a receiver may write deliveries at the same time
                for row in batch:  # in order: a mark, then its final state, within one batch
                    if row[3] is None:
                        writer.execute(_FORGET, (row[0],))
                    else:
                        writer.execute(_UPSERT, row[:9])
                        if row[3] == "sent" and row[4]:  # accepted: a delivery to follow
                            writer.execute(_ACCEPTED, (row[4], row[0], row[1], row[7], row[9]))
        except (sqlite3.Error, OSError) as cause:
            raise JournalError(f"{self.path}: the journal cannot be written ({cause})") from None

    # Reads, on the event loop's thread --------------------------------------------------------

    def _read(self) -> sqlite3.Connection:
        assert self._reader is not None
        return self._reader

    def item(self, key: str) -> ItemRow | None:
        row = (
            self._read()
            .execute(
                "SELECT state, recipient, fingerprint, message_id, error, attempts, updated "
                "FROM items WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        return None if row is None else tuple(row)

    def statuses_of(self, tags: list[str]) -> list[Seen]:
        return seen_in(self._read(), tags)

    def statuses_recorded(self) -> bool:
        found = self._read().execute("SELECT 1 FROM deliveries WHERE seen_at IS NOT NULL LIMIT 1")
        return found.fetchone() is not None

    def _uncertain_without_statuses(self) -> bool:
        uncertain = (
            self._read()
            .execute("SELECT 1 FROM items WHERE state IN ('in_flight', 'ambiguous') LIMIT 1")
            .fetchone()
        )
        return uncertain is not None and not self.statuses_recorded()

    def failures(self) -> list[tuple[str, int | None]]:
        rows = self._read().execute(
            "WITH failed AS (SELECT recipient, error_code FROM deliveries WHERE status = 'failed') "
            "SELECT recipient, error_code FROM failed UNION "
            "SELECT links.b, error_code FROM failed JOIN links ON links.a = failed.recipient"
        )
        return [(str(recipient), code) for recipient, code in rows]

    def opted_out(self, category: str) -> set[str]:
        rows = self._read().execute(
            "WITH stopped AS (SELECT user FROM preferences WHERE category = ? AND value = 'stop') "
            "SELECT user FROM stopped UNION "
            "SELECT links.b FROM stopped JOIN links ON links.a = stopped.user",
            (category,),
        )
        return {str(user) for (user,) in rows}

    def moved(self) -> dict[str, str]:
        rows = self._read().execute("SELECT old, new FROM moves")
        return {str(old): str(new) for old, new in rows}

    def template_states(self) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        rows = self._read().execute("SELECT name, language, status, category FROM templates")
        return {(str(n), str(lang)): (status, category) for n, lang, status, category in rows}

    def states(self) -> dict[str, int]:
        rows = self._read().execute("SELECT state, COUNT(*) FROM items GROUP BY state")
        return dict(rows.fetchall())


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
