"""One way to open the library's SQLite files and to write to them: a connection made alike
everywhere, a transaction that takes the write lock at once and always ends, and the journal
file's schema, which the campaign journal and the delivery store share.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

from gupshup_async.errors import JournalError

__all__ = ["FORMAT", "connect", "open_read_only", "prepare_journal", "transaction"]


def connect(
    path: str | os.PathLike[str], *, shared: bool = True, timeout: float = 30.0
) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are ours, explicit), usable from the
    thread that runs its writes (``shared``), waiting up to ``timeout`` s for another writer.
    """
    return sqlite3.connect(
        path, check_same_thread=not shared, isolation_level=None, timeout=timeout
    )


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock now: another process may write the same file),
    then ``COMMIT``, or ``ROLLBACK`` on any exception.
    """
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


#: The journal's format, kept in SQLite's ``user_version``: 2 records each item's recipient and
#: message fingerprint with its key (format 0, of version 0.1, keyed items by position); 3 adds
#: each delivery's tag (the attempt its statuses name), when its first status came, and whether
#: an item was recorded sent on a status's word (its answer never came), and what each message
#: cost (its pricing category, billable or not, its conversation). A format 2
#: file is upgraded in place when a run or a receiver opens it.
FORMAT = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    key TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'sent', 'failed', 'ambiguous')),
    message_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 0
)
"""
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
    error_title TEXT,
    tag TEXT,
    seen_at REAL,
    pricing_category TEXT,
    billable INTEGER,
    conversation_id TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_by_wamid ON deliveries (wamid);
CREATE INDEX IF NOT EXISTS deliveries_by_key ON deliveries (item_key);
CREATE INDEX IF NOT EXISTS deliveries_by_tag ON deliveries (tag);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seen_events (identity TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS preferences (
    user TEXT NOT NULL,
    category TEXT NOT NULL,
    value TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (user, category)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS links (
    a TEXT NOT NULL, b TEXT NOT NULL, PRIMARY KEY (a, b)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS moves (old TEXT PRIMARY KEY, new TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    status TEXT,
    category TEXT,
    at REAL NOT NULL,
    PRIMARY KEY (name, language)
) WITHOUT ROWID;
"""


def prepare_journal(connection: sqlite3.Connection, path: Path) -> None:
    """Make ``connection``'s file a journal of this format, or refuse it."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    if version == 2:
        _upgrade_from_2(connection)
        version = FORMAT
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


def _upgrade_from_2(connection: sqlite3.Connection) -> None:
    """Format 2 to 3: the deliveries' tag and first-status time, in one transaction."""
    with transaction(connection):
        if connection.execute("PRAGMA user_version").fetchone()[0] != 2:
            return  # another process upgraded it first
        for column in (
            "tag TEXT",
            "seen_at REAL",
            "pricing_category TEXT",
            "billable INTEGER",
            "conversation_id TEXT",
        ):
            connection.execute(f"ALTER TABLE deliveries ADD COLUMN {column}")
        connection.execute("ALTER TABLE items ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 0")
        connection.execute(f"PRAGMA user_version={FORMAT}")


def open_read_only(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A journal opened to read only: never created, its schema never touched. Raises
    `JournalError` for a missing file, a file that is not a journal of this format.
    """
    where = Path(path)
    if not where.is_file():
        raise JournalError(f"{where}: no such file")
    try:
        db = sqlite3.connect(f"{where.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as refused:
        raise JournalError(f"{where}: cannot open it ({refused})") from None
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == 2:
            raise JournalError(
                f"{where} is a journal of format 2: a run or a receiver of this version "
                "upgrades it when it opens it (`gupshup-async receive --journal` will)"
            )
        if version != FORMAT:
            raise JournalError(f"{where} is not a journal of this version")
        if db.execute("SELECT value FROM meta WHERE name = 'campaign'").fetchone() is None:
            raise JournalError(f"{where} is not a journal (no campaign recorded)")
    except sqlite3.DatabaseError as broken:
        db.close()
        raise JournalError(f"{where} is not a journal ({broken})") from None
    except BaseException:
        db.close()
        raise
    return db
