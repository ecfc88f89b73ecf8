"""One way to reach the library's PostgreSQL records: which locations are databases, a
connection made alike everywhere (its password never shown), and the schema, created and
versioned by the library, that every record shares: campaigns, their items, the deliveries the
receivers record, the events seen, users' preferences, ids and windows, templates' states.

psycopg 3 is imported here only, and only when a database is used: the ``postgres`` extra.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gupshup_async.errors import JournalError

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "SCHEMA_VERSION",
    "LiveConnection",
    "connect",
    "failure",
    "is_database",
    "redacted",
]

_SCHEMES = ("postgresql://", "postgres://")

T = TypeVar("T")

#: The version of the tables below, kept in ``gupshup_schema``: a database written by a later
#: version of the library is refused rather than misread.
SCHEMA_VERSION = 1

# Prefixed, so that the records can share a database (or a schema, through the URL's
# ``options=-csearch_path=...``) with an application's own tables.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS gupshup_schema (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS gupshup_campaigns (
    name text PRIMARY KEY,
    campaign text NOT NULL UNIQUE,
    created double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS gupshup_items (
    campaign text NOT NULL,
    key text NOT NULL,
    recipient text NOT NULL,
    fingerprint text NOT NULL,
    state text NOT NULL CHECK (state IN ('in_flight', 'sent', 'failed', 'ambiguous')),
    message_id text,
    error text,
    attempts integer NOT NULL DEFAULT 0,
    updated double precision NOT NULL,
    confirmed integer NOT NULL DEFAULT 0,
    PRIMARY KEY (campaign, key)
);
CREATE TABLE IF NOT EXISTS gupshup_deliveries (
    gs_id text PRIMARY KEY,
    wamid text,
    campaign text,
    item_key text,
    recipient text NOT NULL,
    accepted double precision NOT NULL,
    status text NOT NULL DEFAULT 'accepted',
    status_at bigint,
    error_code integer,
    error_title text,
    tag text,
    seen_at double precision,
    pricing_category text,
    billable integer,
    conversation_id text
);
CREATE INDEX IF NOT EXISTS gupshup_deliveries_by_wamid ON gupshup_deliveries (wamid);
CREATE INDEX IF NOT EXISTS gupshup_deliveries_by_item ON gupshup_deliveries (campaign, item_key);
CREATE INDEX IF NOT EXISTS gupshup_deliveries_by_tag ON gupshup_deliveries (tag);
CREATE INDEX IF NOT EXISTS gupshup_deliveries_by_recipient
    ON gupshup_deliveries (recipient, accepted);
CREATE INDEX IF NOT EXISTS gupshup_deliveries_failed
    ON gupshup_deliveries (campaign) WHERE status = 'failed';
CREATE TABLE IF NOT EXISTS gupshup_seen_events (
    identity text PRIMARY KEY, at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS gupshup_seen_events_by_age ON gupshup_seen_events (at);
CREATE TABLE IF NOT EXISTS gupshup_preferences (
    user_id text NOT NULL,
    category text NOT NULL,
    value text NOT NULL,
    at double precision NOT NULL,
    PRIMARY KEY (user_id, category)
);
CREATE TABLE IF NOT EXISTS gupshup_links (a text NOT NULL, b text NOT NULL, PRIMARY KEY (a, b));
CREATE TABLE IF NOT EXISTS gupshup_moves (
    old text PRIMARY KEY, new text NOT NULL, at double precision NOT NULL
);
CREATE TABLE IF NOT EXISTS gupshup_templates (
    name text NOT NULL,
    language text NOT NULL,
    status text,
    category text,
    at double precision NOT NULL,
    PRIMARY KEY (name, language)
);
CREATE TABLE IF NOT EXISTS gupshup_windows (
    recipient text PRIMARY KEY,
    last_inbound double precision,
    closed_seen double precision
);
"""

# Every process that makes or checks the schema takes this lock first, in the transaction that
# does it: two hosts starting at once never race on CREATE.
_SCHEMA_LOCK = 0x67757073  # "gups"


def is_database(where: object) -> bool:
    """Whether ``where`` names a PostgreSQL database (``postgresql://...``), not a file."""
    return isinstance(where, str) and where.startswith(_SCHEMES)


def redacted(url: str) -> str:
    """``url`` with its password (in the address or the query) replaced by ``***``."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        user, colon, _password = credentials.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{host}"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    shown = [(k, "***" if k.lower() == "password" else v) for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(shown, safe="*-="), "")
    )


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on how it was installed
        raise JournalError(
            "a PostgreSQL record needs psycopg: pip install 'gupshup-async[postgres]'"
        ) from None
    return psycopg


def connect(url: str, *, timeout: float = 10.0) -> psycopg.Connection[Any]:
    """A connection in autocommit mode (transactions are ours, explicit), named after this
    host and process (so that a lock's holder can be told), its schema made or checked.
    Raises `JournalError` (the password never in it) when the database cannot be reached or is
    not one of this version's.
    """
    driver = _psycopg()
    name = f"gupshup-async {socket.gethostname()} pid {os.getpid()}"[:63]
    try:
        connection = driver.connect(
            url,
            autocommit=True,
            # A server that does not answer at all holds a callback at most this long.
            connect_timeout=max(1, min(10, int(timeout))),
            application_name=name,
        )
    except driver.Error as refused:
        raise failure(url, "cannot connect", refused) from None
    try:
        _prepare(connection, url)
    except BaseException:
        connection.close()
        raise
    made: psycopg.Connection[Any] = connection
    return made


def _prepare(connection: psycopg.Connection[Any], url: str) -> None:
    driver = _psycopg()
    try:
        # Made already (the common case): no DDL at all, which would lock the tables that
        # receivers and runs are writing.
        if _version(connection, url) == SCHEMA_VERSION:
            return
        with connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            if _version(connection, url) == SCHEMA_VERSION:
                return  # another process made it meanwhile
            connection.execute(_SCHEMA)
            connection.execute(
                "INSERT INTO gupshup_schema (version) VALUES (%s)", (SCHEMA_VERSION,)
            )
    except driver.Error as refused:
        raise failure(url, "cannot prepare its tables", refused) from None


def _version(connection: psycopg.Connection[Any], url: str) -> int | None:
    """The schema's version in the database (None: not made yet); refuses a later one."""
    made = connection.execute("SELECT to_regclass('gupshup_schema') IS NOT NULL").fetchone()
    if not (made and made[0]):
        return None
    row = connection.execute("SELECT max(version) FROM gupshup_schema").fetchone()
    version = row[0] if row else None
    if version is not None and version > SCHEMA_VERSION:
        raise JournalError(
            f"{redacted(url)} holds records of schema {version}, written by a later "
            f"version of gupshup-async (this one writes {SCHEMA_VERSION}): upgrade it"
        )
    return None if version is None else int(version)


def failure(url: str, doing: str, cause: BaseException) -> JournalError:
    """The `JournalError` of a database that failed: where (password hidden), what was being
    done, and the server's first line of why.
    """
    said = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    return JournalError(f"{redacted(url)}: {doing} ({said})")


class LiveConnection:
    """One connection, made when first needed and made again when the server dropped it (a
    restart, a failover). `transaction` runs a piece of work in one transaction and, when it
    failed because the connection died, once more on a new one: nothing of the failed
    transaction was kept, so the work is whole or not there. ``setup`` runs on each new
    connection.
    """

    def __init__(self, url: str, *, timeout: float = 30.0, setup: str | None = None) -> None:
        self.url = url
        self._timeout = timeout
        self._setup = setup
        self._db: psycopg.Connection[Any] | None = None

    @property
    def db(self) -> psycopg.Connection[Any]:
        """The connection, alive as far as is known (`JournalError` when none can be made)."""
        if self._db is not None and (self._db.closed or self._db.broken):
            self._db.close()
            self._db = None
        if self._db is None:
            made = connect(self.url, timeout=self._timeout)
            if self._setup is not None:
                made.execute(self._setup)
            self._db = made
        return self._db

    def transaction(self, doing: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work(connection)`` in one transaction; `JournalError` saying ``doing`` when it
        fails (after the one more try a dead connection gets).
        """
        driver = _psycopg()
        for last in (False, True):
            db = self.db
            try:
                with db.transaction():
                    return work(db)
            except driver.Error as broken:
                if last or not (db.closed or db.broken):
                    raise failure(self.url, doing, broken) from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
