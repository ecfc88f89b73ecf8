"""What the status webhooks say of a campaign's messages: the deliveries table of its journal,
as the webhook receiver writes it and a report reads it.
"""

from __future__ import annotations

import collections
import os
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import attrs

from gupshup_async.errors import CODES, JournalError
from gupshup_async.identities import links, moves
from gupshup_async.stores._sqlite import (
    connect,
    open_read_only,
    prepare_journal,
    transaction,
)
from gupshup_async.stores.statuses import UNCONFIRMED_AFTER
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

__all__ = ["Delivery", "DeliveryRecorder", "DeliveryReport", "DeliveryStore"]

# Later statuses win; a late "sent" after "read" (Gupshup may reorder) does not go back.
_RANK = {"accepted": 0, "enqueued": 1, "sent": 2, "delivered": 3, "read": 4, "failed": 5}


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
    """How a campaign's messages fared: counts by latest status, failures by error code.

    ``duplicated``: items that statuses (or answers) show reached WhatsApp more than once (an
    attempt whose answer never came, retried, and both went). ``confirmed``: items recorded
    sent on a status's word (their answer never came). ``uncertain``: items whose request may
    have gone out and that no status has named yet; ``unconfirmed``: of those, the ones whose
    last attempt is older than ``UNCONFIRMED_AFTER`` (600 s): they almost surely never
    arrived, and ``bulk --resend-unconfirmed`` sends them. ``status_latency``: seconds
    from a message's record to its first status, median and 95th percentile (None: no status
    yet): what ``confirm_within`` must cover.
    """

    campaign: str
    accepted: int
    by_status: dict[str, int]
    failed_by_code: dict[int | None, int]
    duplicated: int = 0
    uncertain: int = 0
    status_latency: tuple[float, float] | None = None
    confirmed: int = 0
    unconfirmed: int = 0
    #: Messages by pricing category (as the statuses said), and of those the billable ones.
    by_category: dict[str, tuple[int, int]] = attrs.field(factory=dict)

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
        latencies = [r.status_latency for r in reports if r.status_latency is not None]
        categories: dict[str, tuple[int, int]] = {}
        for report in reports:
            for category, (count, billable) in report.by_category.items():
                known = categories.get(category, (0, 0))
                categories[category] = (known[0] + count, known[1] + billable)
        return cls(
            campaign,
            accepted,
            dict(by_status),
            dict(failed),
            duplicated=sum(report.duplicated for report in reports),
            uncertain=sum(report.uncertain for report in reports),
            confirmed=sum(report.confirmed for report in reports),
            unconfirmed=sum(report.unconfirmed for report in reports),
            by_category=categories,
            # The shards' worst: an upper bound, which is what a wait must cover.
            status_latency=(
                (max(m for m, _ in latencies), max(p for _, p in latencies)) if latencies else None
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign,
            "accepted": self.accepted,
            "by_status": self.by_status,
            "without_status": self.without_status,
            "by_category": {
                category: {"messages": count, "billable": billable}
                for category, (count, billable) in sorted(self.by_category.items())
            },
            "confirmed": self.confirmed,
            "duplicated": self.duplicated,
            "uncertain": self.uncertain,
            "unconfirmed": self.unconfirmed,
            "status_latency": (
                None
                if self.status_latency is None
                else {"median": self.status_latency[0], "p95": self.status_latency[1]}
            ),
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


class DeliveryRecorder(Protocol):
    """Where a webhook receiver records what the callbacks say: `DeliveryStore` (a journal
    file) or `PostgresDeliveryStore` (a database for many hosts). Blocking calls: a
    `Receiver` makes them from its writer's thread.
    """

    def record_new(
        self, batches: list[list[Event]], *, forget_after: float = ...
    ) -> list[list[Event]]:
        """Record every batch in one transaction, durable when it returns; each batch's
        events not recorded before. Raises on any failure, and then nothing is recorded.
        """

    def record(self, events: Iterable[Event]) -> int: ...

    def find(self, message_id: str) -> Delivery | None: ...

    def answered(self, event: FromUser) -> Delivery | None: ...

    def close(self) -> None: ...


class DeliveryStore:
    """The deliveries table of a campaign's journal, as the webhook receiver writes it and a
    report reads it. Plain SQLite calls: run them in a thread from async code.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        # ``timeout``: how long a write waits for another writer's lock (a campaign's commit)
        # before it fails, and the receiver answers 503 so that Gupshup sends it again.
        self._connection = connect(self.path, timeout=timeout)
        try:
            prepare_journal(self._connection, self.path)
        except sqlite3.DatabaseError as broken:
            self._connection.close()
            raise JournalError(f"{self.path} is not a journal ({broken})") from None
        # Made once with the journal: asked for every status, never changes.
        found = self._connection.execute("SELECT value FROM meta WHERE name = 'campaign'")
        self.campaign: str = str(found.fetchone()[0])
        self._batches = 0  # batches recorded by record_new: old identities go every 256th

    def close(self) -> None:
        self._connection.close()

    def __repr__(self) -> str:
        return f"DeliveryStore({str(self.path)!r})"

    def record(self, events: Iterable[Event]) -> int:
        """Record what the statuses among ``events`` say; how many matched a sent message."""
        matched = 0
        with transaction(self._connection):  # the write lock now: the campaign writes too
            for event in events:
                if isinstance(event, StatusUpdate) and self._record_status(event):
                    matched += 1
        return matched

    def record_new(
        self, batches: list[list[Event]], *, forget_after: float = 7 * 86_400.0
    ) -> list[list[Event]]:
        """Record every batch in one transaction, synced to disk, and return each batch's
        events not recorded before (by their ``identity``): what a webhook receiver may then
        acknowledge and hand to its handlers. Identities are kept ``forget_after`` seconds.
        Raises on any failure, and then nothing of the call is recorded.
        """
        now = time.time()
        fresh: list[list[Event]] = []
        db = self._connection
        with transaction(db):
            for events in batches:
                new: list[Event] = []
                for event in events:
                    inserted = db.execute(
                        "INSERT INTO seen_events (identity, at) VALUES (?, ?) "
                        "ON CONFLICT (identity) DO NOTHING",
                        ("\x1f".join(event.identity), now),
                    )
                    if inserted.rowcount != 1:
                        continue  # a repeat: recorded before, its effects already stored
                    if isinstance(event, StatusUpdate):
                        self._record_status(event)
                    elif isinstance(event, (UserPreference, TemplateUpdate)):
                        self._record_change(event, now)
                    elif isinstance(event, BillingEvent):
                        self._record_cost(event)
                    self._record_people([event], now)
                    new.append(event)
                fresh.append(new)
            self._batches += 1
            if self._batches % 256 == 1:  # now and then (and at the first), not every batch
                db.execute("DELETE FROM seen_events WHERE at < ?", (now - forget_after,))
        return fresh

    def _record_change(self, event: UserPreference | TemplateUpdate, now: float) -> None:
        """A user's marketing preference, or a template's status or category: the latest of
        each (by its own time) is what campaigns act on.
        """
        db = self._connection
        db.executemany(
            "INSERT INTO preferences (user, category, value, at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user, category) DO UPDATE SET value = excluded.value, "
            "at = excluded.at WHERE excluded.at >= preferences.at",
            preference_rows(event, now),
        )
        db.executemany(
            "INSERT INTO templates (name, language, status, category, at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name, language) DO UPDATE SET "
            "status = coalesce(excluded.status, status), "
            "category = coalesce(excluded.category, category), at = excluded.at",
            template_rows(event, now),
        )

    def _record_people(self, events: list[Event], now: float) -> None:
        """Which ids are one person, and which ids users left: what is known of a user who
        changed number or user id follows them (their messages' records and preferences), but
        not a failure of the old number, which says nothing of the new.
        """
        db = self._connection
        for a, b in links(events):
            db.executemany("INSERT OR IGNORE INTO links (a, b) VALUES (?, ?)", [(a, b), (b, a)])
        for old, new in moves(events):
            db.execute(
                "INSERT INTO moves (old, new, at) VALUES (?, ?, ?) ON CONFLICT (old) DO UPDATE "
                "SET new = excluded.new, at = excluded.at",
                (old, new, now),
            )
            db.execute(
                "UPDATE deliveries SET recipient = ? WHERE recipient = ? AND status != 'failed'",
                (new, old),
            )
            db.execute(
                "INSERT OR REPLACE INTO preferences (user, category, value, at) "
                "SELECT ?, category, value, at FROM preferences WHERE user = ?",
                (new, old),
            )
            db.execute("DELETE FROM links WHERE a = ?1 OR b = ?1", (old,))

    def _record_cost(self, billing: BillingEvent) -> None:
        """A billing event's pricing, on the message it names (by either id)."""
        self._connection.execute(
            "UPDATE deliveries SET pricing_category = coalesce(?1, pricing_category), "
            "billable = coalesce(?2, billable), conversation_id = coalesce(?3, conversation_id) "
            "WHERE gs_id = ?4 OR wamid = ?5 OR gs_id = ?5",
            (
                billing.category,
                None if billing.billable is None else int(billing.billable),
                billing.conversation_id,
                billing.gs_id or billing.message_id,
                billing.message_id,
            ),
        )

    def _record_status(self, update: StatusUpdate) -> bool:
        now = time.time()
        row = self._row_for(update)
        if row is None:
            tag = Tag.parse(update.callback_data)
            ours = tag is not None and tag.campaign == self.campaign
            # Ahead of the send's own record (or an attempt whose answer never came), or a
            # message sent outside any campaign (a plain ``client.send``): kept under Gupshup's
            # id (Meta's when there is none), so that `find` knows every message the app sent
            # and a status source finds it by its tag. Only the campaign's own (with an item)
            # count in its report.
            gs_id = update.gs_id or update.message_id
            if not gs_id:
                return False
            self._connection.execute(
                "INSERT INTO deliveries (gs_id, item_key, recipient, accepted, tag) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    gs_id,
                    tag.key if ours and tag is not None else None,
                    update.recipient or "",
                    now,
                    update.callback_data,
                ),
            )
            row = (gs_id, "accepted")
        gs_id, known = row
        # A status the library does not know (or none: "unknown") never replaces a known one.
        rank = _RANK.get(update.status)
        newer = rank is not None and (update.status == "failed" or rank > _RANK.get(known, 0))
        self._connection.execute(
            "UPDATE deliveries SET wamid = coalesce(wamid, ?), status = coalesce(?, status), "
            "status_at = coalesce(?, status_at), error_code = coalesce(?, error_code), "
            "error_title = coalesce(?, error_title), tag = coalesce(tag, ?), "
            "seen_at = coalesce(seen_at, ?), pricing_category = coalesce(?, pricing_category), "
            "billable = coalesce(?, billable), conversation_id = coalesce(?, conversation_id) "
            "WHERE gs_id = ?",
            (
                update.message_id,
                update.status if newer else None,  # an older status, come late: ignored
                update.timestamp,
                update.error_code,
                update.error_title,
                update.callback_data,
                now,
                update.pricing_category,
                None if update.billable is None else int(update.billable),
                update.conversation_id,
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
        if update.callback_data and Tag.parse(update.callback_data) is not None:
            # One tag per attempt: the row of exactly the request this status is about.
            row = db.execute(
                "SELECT gs_id, status FROM deliveries WHERE tag = ? ORDER BY accepted DESC LIMIT 1",
                (update.callback_data,),
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
        template's quick-reply tap without one, the latest message sent to that user (by any
        of their ids).
        """
        if event.context_id:
            found = self.find(event.context_id)
            if found is not None:
                return found
        if not isinstance(event, TemplateButtonReply):
            return None
        # Sent to one of their ids, tapped from another: any id known to be theirs.
        row = self._connection.execute(
            "SELECT gs_id, wamid, item_key, recipient, status, error_code, error_title "
            "FROM deliveries WHERE recipient = ?1 "
            "OR recipient IN (SELECT b FROM links WHERE a = ?1) "
            "ORDER BY accepted DESC LIMIT 1",
            (event.sender,),
        ).fetchone()
        return Delivery(*row) if row else None

    def report(self) -> DeliveryReport:
        return _report(self._connection, self.campaign)

    @staticmethod
    def read_report(path: str | os.PathLike[str]) -> DeliveryReport:
        """The report of the journal at ``path``, read without writing: the file is opened
        read-only, never created, its schema never touched. Raises `JournalError` for a file
        that is not a journal.
        """
        db = open_read_only(path)
        try:
            campaign = db.execute("SELECT value FROM meta WHERE name = 'campaign'").fetchone()
            return _report(db, str(campaign[0]))
        except sqlite3.DatabaseError as broken:
            raise JournalError(f"{path} is not a journal ({broken})") from None
        finally:
            db.close()


def preference_rows(event: Event, now: float) -> list[tuple[str, str, str, float]]:
    """(user, category, value, at) a preference event stores, under each id it names the user
    by (at: its own time, else ``now``); none for another event.
    """
    if not isinstance(event, UserPreference):
        return []
    at = float(event.timestamp) if event.timestamp is not None else now
    return [
        (user, event.category, event.value, at) for user in {event.wa_id, event.user_id} if user
    ]


def template_rows(event: Event, now: float) -> list[tuple[str, str, str | None, str | None, float]]:
    """(name, language, status, category, at) a template update stores (the status or the
    category it changes, the other None: kept); none for another event or a nameless one.
    """
    if not isinstance(event, TemplateUpdate) or event.name is None or event.language is None:
        return []
    status = event.status if event.field == "message_template_status_update" else None
    category = event.new if event.field == "template_category_update" else None
    return [(event.name, event.language, status, category, now)]


def _report(db: sqlite3.Connection, campaign: str) -> DeliveryReport:
    # The campaign's messages only: statuses of messages sent outside it are stored for
    # `find`, not counted here.
    by_status = dict(
        db.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE item_key IS NOT NULL GROUP BY status"
        )
    )
    failed = dict(
        db.execute(
            "SELECT error_code, COUNT(*) FROM deliveries WHERE status = 'failed' "
            "AND item_key IS NOT NULL GROUP BY error_code"
        )
    )
    accepted = sum(by_status.values())
    duplicated = db.execute(
        "SELECT COUNT(*) FROM (SELECT item_key FROM deliveries WHERE item_key IS NOT NULL "
        "GROUP BY item_key HAVING COUNT(*) > 1)"
    ).fetchone()[0]
    # Items whose request may have gone out, of which no message is known; and of those, the
    # ones no status named long after their last attempt.
    uncertain, unconfirmed = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(updated < ?), 0) FROM items "
        "WHERE state IN ('in_flight', 'ambiguous') AND NOT EXISTS "
        "(SELECT 1 FROM deliveries WHERE deliveries.item_key = items.key)",
        (time.time() - UNCONFIRMED_AFTER,),
    ).fetchone()
    confirmed = db.execute("SELECT COUNT(*) FROM items WHERE confirmed = 1").fetchone()[0]
    by_category = {
        str(category): (int(count), int(billable or 0))
        for category, count, billable in db.execute(
            "SELECT pricing_category, COUNT(*), SUM(billable) FROM deliveries "
            "WHERE item_key IS NOT NULL AND pricing_category IS NOT NULL "
            "GROUP BY pricing_category"
        )
    }
    return DeliveryReport(
        campaign,
        accepted,
        by_status,
        failed,
        duplicated=duplicated,
        uncertain=uncertain,
        status_latency=_latency(db),
        confirmed=confirmed,
        unconfirmed=unconfirmed,
        by_category=by_category,
    )


def _latency(db: sqlite3.Connection) -> tuple[float, float] | None:
    """Median and 95th percentile of the seconds from a message's record (its answer, stored
    by the campaign) to its first status stored by the receiver.
    """
    where = "FROM deliveries WHERE item_key IS NOT NULL AND seen_at >= accepted"
    count = db.execute(f"SELECT COUNT(*) {where}").fetchone()[0]
    if not count:
        return None

    def at(fraction: float) -> float:
        row = db.execute(
            f"SELECT seen_at - accepted {where} ORDER BY seen_at - accepted LIMIT 1 OFFSET ?",
            (min(count - 1, int(count * fraction)),),
        ).fetchone()
        return round(float(row[0]), 3)

    return (at(0.5), at(0.95))
