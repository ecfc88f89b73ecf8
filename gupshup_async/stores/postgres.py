"""The records for many hosts, in PostgreSQL: a campaign journal's store, the delivery store
the webhook receivers write, the window store, and the status source campaigns consult. Each
keeps the promises of its SQLite sibling, with the same behaviour; what differs is that one
database holds every campaign, every shard and every receiver of an app:

- a campaign is known by its name; its shards run at once, each with its own run lock, and
  share one id (their tags), one record, one report;
- the receivers record every status, preference and id change once for the whole fleet, and
  every campaign reads them: an account-level or window failure counts for the campaign whose
  message it was, a recipient's failure for good for every campaign;
- one run per campaign (or per shard) is an advisory lock held by the run's connection: the
  database lets it go when that session ends, however the process ended.

Writes run in the thread of their owner (the journal's, the receiver's writer), as SQLite's do,
through psycopg 3's blocking API: each commit is one round of the server's write-ahead log, the
event loop never waits on it, and one code path serves both engines. Reads a send makes (a
window, a status) run in threads of their own, from psycopg_pool's pool.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from gupshup_async.errors import UNREACHABLE_CODES, JournalError
from gupshup_async.identities import links, moves
from gupshup_async.items import shard_of
from gupshup_async.stores._postgres import LiveConnection, connect, failure, redacted
from gupshup_async.stores.deliveries import (
    Delivery,
    DeliveryReport,
    preference_rows,
    template_rows,
)
from gupshup_async.stores.statuses import UNCONFIRMED_AFTER, Seen
from gupshup_async.stores.windows import _changes, _key
from gupshup_async.tags import Tag
from gupshup_async.webhooks import (
    BillingEvent,
    Event,
    FromUser,
    StatusUpdate,
    TemplateButtonReply,
    TemplateUpdate,
    UserPreference,
)
from gupshup_async.window import Window

if TYPE_CHECKING:
    import psycopg

    from gupshup_async.stores._rows import ItemRow, Mark

__all__ = [
    "PostgresDeliveryStore",
    "PostgresJournalStore",
    "PostgresStatuses",
    "PostgresWindowStore",
    "sent_before",
]

# Advisory lock classes (the first of a lock's two keys): distinct from an application's own.
_CAMPAIGN_LOCK = 0x67757001
_SHARD_LOCK = 0x67757002


def _errors() -> tuple[type[BaseException], ...]:
    import psycopg

    return (psycopg.Error,)


class PostgresJournalStore:
    """A campaign's journal in a PostgreSQL database (see `Journal`)."""

    def __init__(self, url: str, *, name: str, shard: str | None, timeout: float = 30.0) -> None:
        self.url = url
        shown = f"campaign {name!r}" + (f", shard {shard}" if shard else "")
        self.where = f"{redacted(url)} ({shown})"
        self.name = name
        self.shard = shard
        self._timeout = timeout
        self._db: psycopg.Connection[Any] | None = None
        self._campaign = ""
        self._items: dict[str, ItemRow] = {}
        self._seen: dict[str, Seen] = {}
        self._recorded = False
        self._failures: list[tuple[str, int | None]] = []
        self._opted_out: dict[str, set[str]] = {}
        self._moved: dict[str, str] = {}
        self._templates: dict[tuple[str, str], tuple[str | None, str | None]] = {}

    def __repr__(self) -> str:
        return f"PostgresJournalStore({self.where!r})"

    def open(self, name: str | None, *, resend_unconfirmed: bool) -> tuple[str, bool]:
        db = connect(self.url, timeout=self._timeout)
        try:
            self._lock(db)
            with db.transaction():
                db.execute(
                    "INSERT INTO gupshup_campaigns (name, campaign, created) VALUES (%s, %s, %s) "
                    "ON CONFLICT (name) DO NOTHING",
                    (self.name, uuid.uuid4().hex[:12], time.time()),
                )
                row = db.execute(
                    "SELECT campaign FROM gupshup_campaigns WHERE name = %s", (self.name,)
                ).fetchone()
            assert row is not None
            self._campaign = str(row[0])
            mine = self._in_my_shard()
            self._items = {
                str(key): (state, recipient, printed, message_id, error, attempts, updated)
                for key, state, recipient, printed, message_id, error, attempts, updated in (
                    db.execute(
                        "SELECT key, state, recipient, fingerprint, message_id, error, attempts, "
                        "updated FROM gupshup_items WHERE campaign = %s",
                        (self._campaign,),
                    )
                )
                if mine(recipient)
            }
            uncertain = [
                key for key, row in self._items.items() if row[0] in ("in_flight", "ambiguous")
            ]
            if uncertain:
                self._seen = {
                    str(tag): Seen(str(tag), gs_id, wamid, recipient, status)
                    for tag, gs_id, wamid, recipient, status in db.execute(
                        "SELECT tag, gs_id, wamid, recipient, status FROM gupshup_deliveries "
                        "WHERE campaign = %s AND item_key = ANY(%s) AND tag IS NOT NULL",
                        (self._campaign, uncertain),
                    )
                }
            self._db = db
            self.refresh()
        except _errors() as broken:
            db.close()
            raise failure(self.url, "cannot open the journal", broken) from None
        except BaseException:
            db.close()
            raise
        if resend_unconfirmed and uncertain and not self._recorded:
            self.close()
            raise JournalError(
                f"{self.where}: no status was ever recorded in this database, so none can show "
                "which of the campaign's uncertain items never arrived: resending them could "
                "message people twice. Run receivers that store statuses here "
                "(`gupshup-async receive --journal`), or resend them all knowingly "
                "(--resend-ambiguous)"
            )
        return self._campaign, bool(self._items)

    def _in_my_shard(self) -> Callable[[str], bool]:
        """Which recorded items this run may be asked about: a shard ``"i/n"`` holds only the
        items whose recipient falls in shard i of n now (however the campaign was split
        before), so a shard's run holds a share of the campaign's items in memory, not all.
        """
        i, _, n = (self.shard or "").partition("/")
        if not (i.isdigit() and n.isdigit() and 0 <= int(i) < int(n)):
            return lambda recipient: True
        return lambda recipient: shard_of(recipient, int(n)) == int(i)

    def _lock(self, db: psycopg.Connection[Any]) -> None:
        """One run per campaign, or per shard: a shard holds the campaign's lock shared (so a
        run of the whole campaign cannot start beside it) and its own exclusive.
        """
        if self.shard is None:
            row = db.execute(
                "SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_CAMPAIGN_LOCK, self.name)
            ).fetchone()
        else:
            row = db.execute(
                "SELECT pg_try_advisory_lock_shared(%s, hashtext(%s)) "
                "AND pg_try_advisory_lock(%s, hashtext(%s))",
                (_CAMPAIGN_LOCK, self.name, _SHARD_LOCK, f"{self.name}\x1f{self.shard}"),
            ).fetchone()
        if row is not None and row[0]:
            return
        holders = db.execute(
            "SELECT DISTINCT a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
            "AND l.granted AND l.pid <> pg_backend_pid() AND l.classid IN (%s, %s) "
            "AND l.objid IN ((hashtext(%s)::bigint & 4294967295)::oid, "
            "(hashtext(%s)::bigint & 4294967295)::oid)",
            (_CAMPAIGN_LOCK, _SHARD_LOCK, self.name, f"{self.name}\x1f{self.shard}"),
        ).fetchall()
        who = ", ".join(sorted(str(h[0]) for h in holders if h[0])) or "another run"
        what = "campaign" if self.shard is None else "shard (or the whole campaign)"
        raise JournalError(
            f"{self.where} is in use by {who}: one run per {what}. Wait for that run to end, "
            "or stop it, then run again"
        )

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()  # the session ends: the run's locks go with it

    def _connection(self) -> psycopg.Connection[Any]:
        if self._db is None:
            raise JournalError(f"{self.where}: the journal is not open")
        return self._db

    def commit(self, batch: list[Mark]) -> None:
        db = self._connection()
        campaign = self._campaign
        try:
            with db.pipeline(), db.transaction():
                for (
                    key,
                    to,
                    printed,
                    state,
                    message_id,
                    error,
                    attempts,
                    at,
                    confirmed,
                    tag,
                ) in batch:
                    if state is None:
                        db.execute(
                            "DELETE FROM gupshup_items WHERE campaign = %s AND key = %s "
                            "AND state = 'in_flight'",
                            (campaign, key),
                        )
                        continue
                    db.execute(
                        "INSERT INTO gupshup_items (campaign, key, recipient, fingerprint, state, "
                        "message_id, error, attempts, updated, confirmed) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                        "ON CONFLICT (campaign, key) DO UPDATE SET state = excluded.state, "
                        "message_id = excluded.message_id, error = excluded.error, "
                        "attempts = greatest(gupshup_items.attempts, excluded.attempts), "
                        "updated = excluded.updated, confirmed = excluded.confirmed",
                        (campaign, key, to, printed, state, message_id, error, attempts, at,
                         confirmed),
                    )  # fmt: skip
                    if state == "sent" and message_id:  # accepted: a delivery to follow
                        # A receiver may have stored its status first: then the send fills in
                        # which item it was.
                        db.execute(
                            "INSERT INTO gupshup_deliveries (gs_id, campaign, item_key, "
                            "recipient, accepted, tag) VALUES (%s, %s, %s, %s, %s, %s) "
                            "ON CONFLICT (gs_id) DO UPDATE SET campaign = excluded.campaign, "
                            "item_key = excluded.item_key, recipient = excluded.recipient, "
                            "accepted = excluded.accepted, "
                            "tag = coalesce(gupshup_deliveries.tag, excluded.tag)",
                            (message_id, campaign, key, to, at, tag),
                        )
        except _errors() as broken:
            raise failure(self.url, "the journal cannot be written", broken) from None
        self._remember(batch)

    def _remember(self, batch: list[Mark]) -> None:
        """What was committed, as the database now holds it (one run per campaign or shard:
        nobody else writes these items).
        """
        items = self._items
        for key, to, printed, state, message_id, error, attempts, at, _confirmed, _tag in batch:
            known = items.get(key)
            if state is None:
                if known is not None and known[0] == "in_flight":
                    del items[key]
            elif known is None:
                items[key] = (state, to, printed, message_id, error, attempts, at)
            else:
                items[key] = (
                    state, known[1], known[2], message_id, error, max(known[5], attempts), at
                )  # fmt: skip

    def refresh(self) -> None:
        db = self._connection()
        try:
            with db.transaction():  # one snapshot of everything
                failed = db.execute(
                    "WITH failed AS (SELECT recipient, error_code FROM gupshup_deliveries "
                    "WHERE status = 'failed' AND (campaign = %s OR error_code = ANY(%s))) "
                    "SELECT recipient, error_code FROM failed UNION "
                    "SELECT l.b, error_code FROM failed JOIN gupshup_links l "
                    "ON l.a = failed.recipient",
                    (self._campaign, sorted(UNREACHABLE_CODES)),
                ).fetchall()
                stopped = db.execute(
                    "WITH stopped AS (SELECT user_id, category FROM gupshup_preferences "
                    "WHERE value = 'stop') SELECT user_id, category FROM stopped UNION "
                    "SELECT l.b, category FROM stopped JOIN gupshup_links l "
                    "ON l.a = stopped.user_id"
                ).fetchall()
                moved = db.execute("SELECT old, new FROM gupshup_moves").fetchall()
                templates = db.execute(
                    "SELECT name, language, status, category FROM gupshup_templates"
                ).fetchall()
                recorded = db.execute(
                    "SELECT EXISTS (SELECT 1 FROM gupshup_deliveries WHERE seen_at IS NOT NULL)"
                ).fetchone()
        except _errors() as broken:
            raise failure(self.url, "cannot read the statuses", broken) from None
        self._failures = [(str(recipient), code) for recipient, code in failed]
        by_category: dict[str, set[str]] = collections.defaultdict(set)
        for user, category in stopped:
            by_category[str(category)].add(str(user))
        self._opted_out = dict(by_category)
        self._moved = {str(old): str(new) for old, new in moved}
        self._templates = {(str(n), str(lang)): (s, c) for n, lang, s, c in templates}
        self._recorded = bool(recorded and recorded[0])

    def status_source(self) -> PostgresStatuses:
        return PostgresStatuses(self.url)

    # Reads: what was loaded at the opening and the latest refresh ----------------------------

    def item(self, key: str) -> ItemRow | None:
        return self._items.get(key)

    def statuses_of(self, tags: list[str]) -> list[Seen]:
        return [self._seen[tag] for tag in tags if tag in self._seen]

    def statuses_recorded(self) -> bool:
        return self._recorded

    def failures(self) -> list[tuple[str, int | None]]:
        return list(self._failures)

    def opted_out(self, category: str) -> set[str]:
        return set(self._opted_out.get(category, ()))

    def moved(self) -> dict[str, str]:
        return dict(self._moved)

    def template_states(self) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        return dict(self._templates)

    def states(self) -> dict[str, int]:
        return dict(collections.Counter(row[0] for row in self._items.values()))


def sent_before(url: str, name: str) -> list[tuple[str, str]]:
    """(recipient, fingerprint) of each message the campaign ``name`` sent (or may have);
    none for a campaign the database does not know.
    """
    db = connect(url)
    try:
        rows = db.execute(
            "SELECT i.recipient, i.fingerprint FROM gupshup_items i JOIN gupshup_campaigns c "
            "ON c.campaign = i.campaign WHERE c.name = %s AND i.state != 'failed'",
            (name,),
        ).fetchall()
    except _errors() as broken:
        raise failure(url, "cannot read the journal", broken) from None
    finally:
        db.close()
    return [(str(recipient), str(printed)) for recipient, printed in rows]


# The order statuses go in: a later one wins, a late "sent" after "read" does not go back, and
# "failed" always wins. Decided in the UPDATE itself, so two receivers storing two statuses of
# one message at once never step back.
_RANKED = "ARRAY['accepted', 'enqueued', 'sent', 'delivered', 'read', 'failed']"
_KNOWN = frozenset({"accepted", "enqueued", "sent", "delivered", "read", "failed"})

# The row a status is about: the one its Gupshup id names, else its Meta id, else the latest
# attempt its tag names (one tag per attempt).
_LOOKUP = (
    "(SELECT gs_id FROM ("
    "SELECT gs_id, 1 AS choice, 0 AS at FROM gupshup_deliveries WHERE gs_id = %(gs)s::text "
    "UNION ALL SELECT gs_id, 2, 0 FROM gupshup_deliveries WHERE wamid = %(wamid)s::text "
    "UNION ALL (SELECT gs_id, 3, accepted FROM gupshup_deliveries WHERE tag = %(tagged)s::text "
    "ORDER BY accepted DESC LIMIT 1)) found ORDER BY choice, at DESC LIMIT 1)"
)

_FIND = (
    "SELECT gs_id, wamid, item_key, recipient, status, error_code, error_title "
    "FROM gupshup_deliveries "
)


class PostgresDeliveryStore:
    """The statuses of every campaign's messages in a PostgreSQL database, as any number of
    webhook receivers write them and reports read them. Blocking calls: the `Receiver` runs
    them in its writer's thread.
    """

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self.where = redacted(url)
        # A write waits at most ``timeout`` for a row another receiver holds (then fails, and
        # the receiver answers 503 so that Gupshup sends the callback again). A connection the
        # server dropped is made again, and the callback stored on the new one.
        self._link = LiveConnection(
            url, timeout=timeout, setup=f"SET lock_timeout = {int(timeout * 1000)}"
        )
        self._link.db  # noqa: B018  (connected now: a database out of reach fails here)
        self._batches = 0

    def __repr__(self) -> str:
        return f"PostgresDeliveryStore({self.where!r})"

    def close(self) -> None:
        self._link.close()

    def record(self, events: Iterable[Event]) -> int:
        """Record what the statuses among ``events`` say; how many matched a sent message."""
        updates = [event for event in events if isinstance(event, StatusUpdate)]
        now = time.time()
        return self._link.transaction(
            "cannot record statuses",
            lambda db: sum(_record_status(db, update, now) for update in updates),
        )

    def record_new(
        self, batches: list[list[Event]], *, forget_after: float = 7 * 86_400.0
    ) -> list[list[Event]]:
        """As `DeliveryStore.record_new`: every batch in one transaction, committed before it
        returns; each batch's events not recorded before (by any receiver).

        Two round trips to the server whatever the number of events: one statement learns
        which events are new (and marks them seen), then what they say goes in one pipeline.
        """
        return self._link.transaction(
            "cannot record the callback",
            lambda db: self._record_new(db, batches, forget_after, time.time()),
        )

    def _record_new(
        self,
        db: psycopg.Connection[Any],
        batches: list[list[Event]],
        forget_after: float,
        now: float,
    ) -> list[list[Event]]:
        identities = {"\x1f".join(event.identity): None for events in batches for event in events}
        unseen = {
            str(row[0])
            for row in db.execute(
                "INSERT INTO gupshup_seen_events (identity, at) "
                "SELECT unnest(%s::text[]), %s ON CONFLICT (identity) DO NOTHING "
                "RETURNING identity",
                (list(identities), now),
            )
        }
        fresh: list[list[Event]] = []
        for events in batches:
            new: list[Event] = []
            for event in events:
                identity = "\x1f".join(event.identity)
                if identity in unseen:  # else a repeat, recorded before by any receiver
                    unseen.discard(identity)  # the first of repeats within the call
                    new.append(event)
            fresh.append(new)
        with db.pipeline():
            for event in (event for new in fresh for event in new):
                if isinstance(event, StatusUpdate):
                    _record_status(db, event, now)
                elif isinstance(event, (UserPreference, TemplateUpdate)):
                    _record_change(db, event, now)
                elif isinstance(event, BillingEvent):
                    _record_cost(db, event)
                _record_people(db, [event], now)
            self._batches += 1
            if self._batches % 256 == 1:
                db.execute("DELETE FROM gupshup_seen_events WHERE at < %s", (now - forget_after,))
        return fresh

    def find(self, message_id: str) -> Delivery | None:
        """The sent message ``message_id`` names: Gupshup's id or Meta's."""
        row = self._link.db.execute(
            _FIND + "WHERE gs_id = %s OR wamid = %s LIMIT 1", (message_id, message_id)
        ).fetchone()
        return Delivery(*row) if row else None

    def answered(self, event: FromUser) -> Delivery | None:
        """As `DeliveryStore.answered`."""
        if event.context_id:
            found = self.find(event.context_id)
            if found is not None:
                return found
        if not isinstance(event, TemplateButtonReply):
            return None
        row = self._link.db.execute(
            _FIND + "WHERE recipient = %s "
            "OR recipient IN (SELECT b FROM gupshup_links WHERE a = %s) "
            "ORDER BY accepted DESC LIMIT 1",
            (event.sender, event.sender),
        ).fetchone()
        return Delivery(*row) if row else None

    def report(self, name: str) -> DeliveryReport:
        """How the campaign ``name`` fared, all its shards together."""
        return _report(self._link.db, self.url, name)

    @staticmethod
    def read_report(url: str, name: str) -> DeliveryReport:
        """The report of the campaign ``name``, read without writing. Raises `JournalError`
        for a database that cannot be read or a campaign it does not know.
        """
        db = connect(url)
        try:
            return _report(db, url, name)
        finally:
            db.close()


def _record_status(db: psycopg.Connection[Any], update: StatusUpdate, now: float) -> bool:
    """Two statements that read nothing back (so that a pipeline sends them together):
    the message's row made when no row names it yet (ahead of the send's own record, or a
    message sent outside any campaign: kept under Gupshup's id, Meta's when there is none,
    so that `find` knows it and a status source finds it by its tag), then the status.
    """
    tag = Tag.parse(update.callback_data)
    fallback = update.gs_id or update.message_id
    if not fallback:
        return False
    status = update.status if update.status in _KNOWN else None
    given = {
        "gs": update.gs_id,
        "wamid": update.message_id,
        "tagged": update.callback_data if tag else None,
        "fallback": fallback,
        "campaign": tag.campaign if tag else None,
        "key": tag.key if tag else None,
        "recipient": update.recipient or "",
        "status": status,
        "at": update.timestamp,
        "code": update.error_code,
        "title": update.error_title,
        "tag": update.callback_data,
        "now": now,
        "category": update.pricing_category,
        "billable": None if update.billable is None else int(update.billable),
        "conversation": update.conversation_id,
    }
    db.execute(
        "INSERT INTO gupshup_deliveries (gs_id, campaign, item_key, recipient, accepted, tag) "
        "SELECT %(fallback)s::text, %(campaign)s::text, %(key)s::text, %(recipient)s::text, "
        f"%(now)s::float8, %(tag)s::text WHERE {_LOOKUP} IS NULL "
        "ON CONFLICT (gs_id) DO NOTHING",
        given,
    )
    db.execute(
        "UPDATE gupshup_deliveries SET wamid = coalesce(wamid, %(wamid)s::text), "
        "status = CASE WHEN %(status)s::text = 'failed' OR array_position("
        f"{_RANKED}, %(status)s::text) > coalesce(array_position({_RANKED}, status), 1) "
        "THEN %(status)s::text ELSE status END, "
        "status_at = coalesce(%(at)s::bigint, status_at), "
        "error_code = coalesce(%(code)s::integer, error_code), "
        "error_title = coalesce(%(title)s::text, error_title), "
        "tag = coalesce(tag, %(tag)s::text), seen_at = coalesce(seen_at, %(now)s::float8), "
        "pricing_category = coalesce(%(category)s::text, pricing_category), "
        "billable = coalesce(%(billable)s::integer, billable), "
        "conversation_id = coalesce(%(conversation)s::text, conversation_id) "
        f"WHERE gs_id = coalesce({_LOOKUP}, %(fallback)s::text)",
        given,
    )
    return True


def _record_change(
    db: psycopg.Connection[Any], event: UserPreference | TemplateUpdate, now: float
) -> None:
    """As `DeliveryStore`'s: the latest preference or template state (by its own time) wins."""
    for row in preference_rows(event, now):
        db.execute(
            "INSERT INTO gupshup_preferences (user_id, category, value, at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (user_id, category) DO UPDATE SET "
            "value = excluded.value, at = excluded.at "
            "WHERE excluded.at >= gupshup_preferences.at",
            row,
        )
    for template in template_rows(event, now):
        db.execute(
            "INSERT INTO gupshup_templates (name, language, status, category, at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (name, language) DO UPDATE SET "
            "status = coalesce(excluded.status, gupshup_templates.status), "
            "category = coalesce(excluded.category, gupshup_templates.category), "
            "at = excluded.at",
            template,
        )


def _record_people(db: psycopg.Connection[Any], events: list[Event], now: float) -> None:
    for a, b in links(events):
        for one, other in ((a, b), (b, a)):
            db.execute(
                "INSERT INTO gupshup_links (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (one, other),
            )
    for old, new in moves(events):
        db.execute(
            "INSERT INTO gupshup_moves (old, new, at) VALUES (%s, %s, %s) "
            "ON CONFLICT (old) DO UPDATE SET new = excluded.new, at = excluded.at",
            (old, new, now),
        )
        db.execute(
            "UPDATE gupshup_deliveries SET recipient = %s "
            "WHERE recipient = %s AND status != 'failed'",
            (new, old),
        )
        db.execute(
            "INSERT INTO gupshup_preferences (user_id, category, value, at) "
            "SELECT %s, category, value, at FROM gupshup_preferences WHERE user_id = %s "
            "ON CONFLICT (user_id, category) DO UPDATE SET value = excluded.value, "
            "at = excluded.at",
            (new, old),
        )
        db.execute("DELETE FROM gupshup_links WHERE a = %s OR b = %s", (old, old))


def _record_cost(db: psycopg.Connection[Any], billing: BillingEvent) -> None:
    db.execute(
        "UPDATE gupshup_deliveries SET "
        "pricing_category = coalesce(%(category)s, pricing_category), "
        "billable = coalesce(%(billable)s, billable), "
        "conversation_id = coalesce(%(conversation)s, conversation_id) "
        "WHERE gs_id = %(gs_id)s OR wamid = %(message)s OR gs_id = %(message)s",
        {
            "category": billing.category,
            "billable": None if billing.billable is None else int(billing.billable),
            "conversation": billing.conversation_id,
            "gs_id": billing.gs_id or billing.message_id,
            "message": billing.message_id,
        },
    )


def _report(db: psycopg.Connection[Any], url: str, name: str) -> DeliveryReport:
    try:
        with db.transaction():
            return _read_report(db, url, name)
    except _errors() as broken:
        raise failure(url, "cannot read the report", broken) from None


def _read_report(db: psycopg.Connection[Any], url: str, name: str) -> DeliveryReport:
    row = db.execute("SELECT campaign FROM gupshup_campaigns WHERE name = %s", (name,)).fetchone()
    if row is None:
        raise JournalError(f"{redacted(url)} holds no campaign named {name!r}")
    campaign = row[0]
    ours = "FROM gupshup_deliveries WHERE campaign = %s AND item_key IS NOT NULL"
    by_status = {
        str(s): int(n)
        for s, n in db.execute(f"SELECT status, COUNT(*) {ours} GROUP BY status", (campaign,))
    }
    failed = dict(
        db.execute(
            f"SELECT error_code, COUNT(*) {ours} AND status = 'failed' GROUP BY error_code",
            (campaign,),
        ).fetchall()
    )
    duplicated = db.execute(
        f"SELECT COUNT(*) FROM (SELECT item_key {ours} GROUP BY item_key HAVING COUNT(*) > 1) d",
        (campaign,),
    ).fetchone()
    uncertain = db.execute(
        "SELECT COUNT(*), COALESCE(SUM((updated < %s)::int), 0) FROM gupshup_items i "
        "WHERE campaign = %s AND state IN ('in_flight', 'ambiguous') AND NOT EXISTS "
        "(SELECT 1 FROM gupshup_deliveries d WHERE d.campaign = i.campaign "
        "AND d.item_key = i.key)",
        (time.time() - UNCONFIRMED_AFTER, campaign),
    ).fetchone()
    confirmed = db.execute(
        "SELECT COUNT(*) FROM gupshup_items WHERE campaign = %s AND confirmed = 1", (campaign,)
    ).fetchone()
    by_category = {
        str(category): (int(count), int(billable or 0))
        for category, count, billable in db.execute(
            f"SELECT pricing_category, COUNT(*), SUM(billable) {ours} "
            "AND pricing_category IS NOT NULL GROUP BY pricing_category",
            (campaign,),
        )
    }
    latencies = [
        float(r[0])
        for r in db.execute(
            f"SELECT seen_at - accepted {ours} AND seen_at >= accepted ORDER BY 1", (campaign,)
        )
    ]
    latency = None
    if latencies:
        # As the SQLite report picks them: the row at count x fraction.
        pick = [latencies[min(len(latencies) - 1, int(len(latencies) * f))] for f in (0.5, 0.95)]
        latency = (round(pick[0], 3), round(pick[1], 3))
    assert duplicated is not None
    assert uncertain is not None
    assert confirmed is not None
    return DeliveryReport(
        name,
        sum(by_status.values()),
        by_status,
        failed,
        duplicated=int(duplicated[0]),
        uncertain=int(uncertain[0]),
        status_latency=latency,
        confirmed=int(confirmed[0]),
        unconfirmed=int(uncertain[1]),
        by_category=by_category,
    )


class PostgresStatuses:
    """The statuses receivers store in a PostgreSQL database, for a campaign on any host: a
    `StatusSource`. Queries run in a thread of their own.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._link = LiveConnection(url)  # connected at the first question, in the thread
        self._thread = concurrent.futures.ThreadPoolExecutor(1, "gupshup-statuses")

    def __repr__(self) -> str:
        return f"PostgresStatuses({redacted(self.url)!r})"

    async def seen(self, tags: Sequence[str]) -> list[Seen]:
        if not tags:
            return []
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._seen, list(tags))

    def _seen(self, tags: list[str]) -> list[Seen]:
        rows = self._link.transaction(
            "cannot read its statuses",
            lambda db: db.execute(
                "SELECT tag, gs_id, wamid, recipient, status FROM gupshup_deliveries "
                "WHERE tag = ANY(%s)",
                (tags,),
            ).fetchall(),
        )
        return [Seen(*row) for row in rows]

    def close(self) -> None:
        self._thread.submit(self._link.close).result()
        self._thread.shutdown(wait=True)


class PostgresWindowStore:
    """Windows in a PostgreSQL database that every receiver writes and every sender reads:
    ``PostgresWindowStore("postgresql://...")``. ``window`` is a coroutine (one indexed
    lookup from a pool of ``readers`` connections, in threads: the event loop never waits on
    it); ``record``, ``user_wrote`` and ``window_closed`` block (the `Receiver` calls ``record``
    from its writer's thread).
    """

    def __init__(self, url: str, *, readers: int = 4) -> None:
        from psycopg_pool import ConnectionPool

        self.url = url
        self.where = redacted(url)
        self._writer = LiveConnection(url)
        self._writer.db  # noqa: B018  (connected now: a database out of reach fails here)
        self._lock = threading.Lock()
        self._readers = ConnectionPool(
            url,
            min_size=1,
            max_size=readers,
            kwargs={"autocommit": True},
            open=True,
            name="gupshup-windows",
        )
        self._threads = concurrent.futures.ThreadPoolExecutor(readers, "gupshup-windows")
        self._size = readers

    def __repr__(self) -> str:
        return f"PostgresWindowStore({self.where!r})"

    def close(self) -> None:
        self._threads.shutdown(wait=True)
        self._readers.close()
        with self._lock:
            self._writer.close()

    async def window(self, recipient: str) -> Window:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._window, _key(recipient))

    def _window(self, key: str) -> Window:
        # A pooled connection the server dropped fails once and leaves the pool: the read is
        # made again on another (a read repeats harmlessly), as many times as there may be
        # dead ones, then the failure is said.
        for attempt in range(self._size + 1):
            db: psycopg.Connection[Any] | None = None
            try:
                with self._readers.connection() as db:
                    row = db.execute(
                        "SELECT max(last_inbound), max(closed_seen) FROM gupshup_windows "
                        "WHERE recipient = %s OR recipient IN (SELECT b FROM gupshup_links "
                        "WHERE a = %s)",
                        (key, key),
                    ).fetchone()
                    return Window(row[0], row[1]) if row else Window()
            except _errors() as broken:
                if attempt == self._size or db is None or not db.broken:
                    raise failure(self.url, "cannot read a window", broken) from None
        raise AssertionError("unreachable")

    def user_wrote(self, recipient: str, at: float) -> None:
        self._write([(recipient, "wrote", at)], [], [])

    def window_closed(self, recipient: str, at: float) -> None:
        self._write([(recipient, "closed", at)], [], [])

    def record(self, events: Iterable[Event]) -> int:
        events = list(events)
        changes, linked, moved = _changes(events), links(events), moves(events)
        if changes or linked or moved:
            self._write(changes, linked, moved)
        return len(changes) + len(moved)

    def _write(
        self,
        changes: list[tuple[str, str, float]],
        linked: list[tuple[str, str]],
        moved: list[tuple[str, str]],
    ) -> None:
        with self._lock:
            self._writer.transaction(
                "cannot record windows", lambda db: _apply(db, changes, linked, moved)
            )


def _apply(
    db: psycopg.Connection[Any],
    changes: list[tuple[str, str, float]],
    linked: list[tuple[str, str]],
    moved: list[tuple[str, str]],
) -> None:
    # In one order whatever the callback's: two receivers never wait on each other in turn.
    for recipient, what, when in sorted(changes):
        column = "last_inbound" if what == "wrote" else "closed_seen"
        db.execute(
            f"INSERT INTO gupshup_windows (recipient, {column}) VALUES (%s, %s) "
            f"ON CONFLICT (recipient) DO UPDATE SET {column} = "
            f"greatest(gupshup_windows.{column}, excluded.{column})",
            (_key(recipient), when),
        )
    pairs = sorted(
        {(_key(a), _key(b)) for a, b in linked} | {(_key(b), _key(a)) for a, b in linked}
    )
    for a, b in pairs:
        db.execute(
            "INSERT INTO gupshup_links (a, b) VALUES (%s, %s) ON CONFLICT DO NOTHING", (a, b)
        )
    for old, new in moved:
        old, new = _key(old), _key(new)
        db.execute(
            "INSERT INTO gupshup_links (a, b) SELECT %s, b FROM gupshup_links "
            "WHERE a = %s AND b != %s ON CONFLICT DO NOTHING",
            (new, old, new),
        )
        db.execute(
            "INSERT INTO gupshup_links (a, b) SELECT a, %s FROM gupshup_links "
            "WHERE b = %s AND a != %s ON CONFLICT DO NOTHING",
            (new, old, new),
        )
        db.execute("DELETE FROM gupshup_links WHERE a = %s OR b = %s", (old, old))
        db.execute(
            "INSERT INTO gupshup_windows (recipient, last_inbound, closed_seen) "
            "SELECT %s, last_inbound, closed_seen FROM gupshup_windows WHERE recipient = %s "
            "ON CONFLICT (recipient) DO UPDATE SET "
            "last_inbound = greatest(gupshup_windows.last_inbound, excluded.last_inbound), "
            "closed_seen = greatest(gupshup_windows.closed_seen, excluded.closed_seen)",
            (new, old),
        )
        db.execute("DELETE FROM gupshup_windows WHERE recipient = %s", (old,))
