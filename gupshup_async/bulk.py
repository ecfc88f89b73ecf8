"""send_many: streaming fan-out with order per recipient, one outcome per item, and a journal.

Items are pulled lazily by a bounded pool of workers. A worker that pulls an item for a
recipient already being sent to queues it behind that recipient and pulls the next one, so one
slow recipient never holds up the pool; the worker sending to a recipient drains its queue in
order. At most ``4 * concurrency`` items are held at once, however long the input.

An item is known by its normalised recipient, the fingerprint of its message's JSON and, with a
journal, how many times that same pair came before it in the input; or by the key its
`Recipient` gives. Never by its position: a resume over re-sorted or edited input finds every
item where it was.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from gupshup_async._closing import AsyncClosing
from gupshup_async.errors import (
    CODES,
    UNREACHABLE_CODES,
    WINDOW_CLOSED,
    AccountError,
    AppNotOnCloudError,
    AuthenticationError,
    BillingNotEnabledError,
    GupshupError,
    InvalidAppError,
    JournalError,
    LimiterUnavailable,
    NotAttempted,
    OutsideWindow,
    UnreachableRecipient,
    ValidationError,
)
from gupshup_async.messages import Message, TemplateMessage, normalize_recipient
from gupshup_async.messages._payload import (
    CALLBACK_DATA_MAX,
    NO_ENVELOPE,
    Envelope,
    encode_normalized,
)
from gupshup_async.results import BulkStats, Item, Outcome, Recipient, SendResult

if TYPE_CHECKING:
    from gupshup_async.journal import Journal

__all__ = ["AttemptWatch", "BulkRun", "SendBody", "fingerprint"]


class AttemptWatch(Protocol):
    """Told of each request of one send: the journal's hold on the send path."""

    async def before(self) -> None:
        """The limiter let the request go; it leaves when this returns."""

    def after(self, error: GupshupError | None) -> None:
        """The request ended: accepted (None) or failed with ``error``."""


#: What a run sends with: ``(recipient, request body, watch) -> SendResult``, raising
#: `GupshupError`. `GupshupClient.send_many` passes its own send path.
SendBody = Callable[[str, bytes, "AttemptWatch | None"], Awaitable[SendResult]]
#: What is sent in place of an item's message, decided as it is sent (the window policy);
#: raising `GupshupError` refuses the item without sending it.
Prepare = Callable[[str, Message], Awaitable[Message]]

# How many items are read ahead, when resuming, to tell a resume from another campaign.
_LOOKAHEAD = 256


def fingerprint(message: Message) -> str:
    """A short fingerprint of the exact interactive JSON a message sends."""
    return hashlib.blake2b(message.encoded(), digest_size=8).hexdigest()


# After one of these, every other item would fail the same way: stop sending.
_FATAL = (
    AuthenticationError,
    BillingNotEnabledError,
    InvalidAppError,
    AppNotOnCloudError,
    AccountError,
    LimiterUnavailable,
)


@attrs.frozen
class _Job:
    index: int
    to: str  # normalised, or as given when it could not be
    key: str
    message: Message | None
    error: GupshupError | None  # refused before sending
    fingerprint: str = ""
    envelope: Envelope = NO_ENVELOPE


class _Watch:
    """The in-flight bookkeeping of one item's send, attempt by attempt."""

    __slots__ = ("_job", "_maybe_delivered", "_run")

    def __init__(self, run: BulkRun, job: _Job) -> None:
        self._run = run
        self._job = job
        self._maybe_delivered = False

    async def before(self) -> None:
        run, job = self._run, self._job
        if run._fatal is not None:  # it came while this one waited for the limiter
            raise NotAttempted(run._fatal)
        if run._journal is not None:
            run._committing.add(job.key)
            await run._journal.in_flight(job.key, job.to, job.fingerprint)
            run._committing.discard(job.key)
        run._in_flight.add(job.key)

    def after(self, error: GupshupError | None) -> None:
        if error is not None and error.ambiguous:
            self._maybe_delivered = True
        if error is not None and not self._maybe_delivered:
            self._run._in_flight.discard(self._job.key)  # that request left nothing behind


class BulkRun(AsyncClosing):
    """An async iterator of `Outcome`s, and an async context manager that stops the run on exit.

    ::

        async with client.send_many(items, concurrency=32) as run:
            async for outcome in run:
                ...
            print(run.stats.ok, run.stats.failed)

    Stopping early (``break``, an exception, cancellation) cancels the workers; an item whose
    request may have left is recorded as ambiguous in the journal.
    """

    def __init__(
        self,
        send: SendBody,
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        concurrency: int,
        journal: Journal | None,
        skip_unreachable: bool = True,
        status_poll: float = 1.0,
        shard: tuple[int, int] | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        if shard is not None and not (
            isinstance(shard, tuple) and len(shard) == 2 and 0 <= shard[0] < shard[1]
        ):
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
        self._shard = shard
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.stats = BulkStats()
        self._send = send
        self._prepare = prepare
        self._items = items
        self._concurrency = concurrency
        self._journal = journal
        self._outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue(maxsize=2 * concurrency)
        self._slots = asyncio.Semaphore(4 * concurrency)
        self._pull_lock = asyncio.Lock()
        self._queued: dict[str, collections.deque[_Job]] = {}
        self._committing: set[str] = set()  # keys whose in-flight mark is being made durable
        self._in_flight: set[str] = set()  # keys whose request may have left
        self._fatal: GupshupError | None = None
        self._seen: dict[int, int] | None = {} if journal is not None else None
        self._ahead: collections.deque[_Job] = collections.deque()
        self._campaign: str | None = None
        self._skip_unreachable = skip_unreachable
        self._status_poll = status_poll
        self._unreachable: dict[str, int | None] = {}
        self._window_closed: set[str] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._index = 0
        self._iterator: Any = None
        self._sync = True
        self._exhausted = False
        self._workers: list[asyncio.Task[None]] = []
        self._closer: asyncio.Task[None] | None = None
        self._crash: BaseException | None = None
        self._finished = False

    # The consumer's side -------------------------------------------------------------------

    def __aiter__(self) -> BulkRun:
        return self

    async def __anext__(self) -> Outcome:
        if not self._workers and not self._finished:
            await self._start()
        outcome = await self._outcomes.get() if not self._finished else None
        if outcome is None:
            self._finished = True
            await self._stop()
            if self._crash is not None:
                raise RuntimeError("send_many stopped on an internal error") from self._crash
            raise StopAsyncIteration
        return outcome

    async def aclose(self) -> None:
        """Stop sending. What was in flight is recorded as ambiguous in the journal."""
        self._finished = True
        await self._stop()

    # The workers ---------------------------------------------------------------------------

    async def _start(self) -> None:
        if self._journal is not None:
            await self._journal.open()
        items = self._items
        self._sync = not isinstance(items, AsyncIterable)
        self._iterator = iter(items) if self._sync else aiter(items)  # type: ignore[arg-type]
        if self._journal is not None:
            self._campaign = self._journal.campaign
            if self._journal.resuming:
                await self._check_resumable(self._journal)
        self._workers = [
            asyncio.create_task(self._work(), name=f"gupshup-bulk-{n}")
            for n in range(self._concurrency)
        ]
        self._closer = asyncio.create_task(self._close_when_done(), name="gupshup-bulk-done")
        if self._journal is not None:
            self._watcher = asyncio.create_task(self._watch_statuses(), name="gupshup-bulk-watch")

    async def _watch_statuses(self) -> None:
        """What the webhook receiver records in the journal feeds back into the run: an
        account-level failure stops it, a recipient that failed for good is not sent again.
        """
        while self._journal is not None:
            await asyncio.sleep(self._status_poll)
            self.learn_from_statuses()

    def learn_from_statuses(self) -> None:
        """Read the failed statuses recorded so far (the run does so every ``status_poll``)."""
        if self._journal is None:
            return
        for recipient, code in self._journal.failures():
            meaning = CODES.get(code) if code is not None else None
            if meaning is not None and meaning.scope == "account" and self._fatal is None:
                self._fatal = AccountError(
                    f"a status said {meaning.meaning} (code {code}): {meaning.todo}",
                    status_code=200,
                    code=code,
                )
            elif code in UNREACHABLE_CODES:
                self._unreachable[recipient] = code
            elif code == WINDOW_CLOSED:
                self._window_closed.add(recipient)

    async def _check_resumable(self, journal: Journal) -> None:
        """Refuse a journal that shares no item with the input: another campaign's file."""
        while len(self._ahead) < _LOOKAHEAD:
            job = await self._next_job()
            if job is None:
                break
            self._ahead.append(job)
        keys = [job.key for job in self._ahead if job.error is None]
        if keys and not journal.knows_any(keys):
            await journal.close()
            raise JournalError(
                f"the journal {journal.path} has items, but none of the first {len(keys)} "
                "of this input: is it another campaign's? Use a new journal for a new campaign"
            )

    async def _close_when_done(self) -> None:
        finished = await asyncio.gather(*self._workers, return_exceptions=True)
        crashes = [
            f
            for f in finished
            if isinstance(f, BaseException) and not isinstance(f, asyncio.CancelledError)
        ]
        if crashes:  # a bug, not a failed send: never end as if every item were accounted for
            self._crash = crashes[0]
        if self._journal is not None and not self._finished:
            await self._journal.flush()
        await self._outcomes.put(None)

    async def _stop(self) -> None:
        extra = [t for t in (self._closer, self._watcher) if t is not None]
        for task in (*self._workers, *extra):
            task.cancel()
        if self._watcher is not None:
            await asyncio.gather(self._watcher, return_exceptions=True)
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
        if self._journal is not None:
            for key in self._committing:
                self._journal.unsent(key)
            for key in self._in_flight:
                self._journal.ambiguous(key, "stopped while the request was in flight")
            self._committing.clear()
            self._in_flight.clear()
            await self._journal.close()
            self._journal = None

    async def _work(self) -> None:
        while True:
            await self._slots.acquire()
            job = await self._pull()
            if job is None:
                self._slots.release()
                return
            if job.to in self._queued:  # someone is sending to this recipient: queue behind
                self._queued[job.to].append(job)
                continue
            self._queued[job.to] = collections.deque()
            await self._chain(job)

    async def _chain(self, job: _Job | None) -> None:
        """Send ``job``, then everything queued behind it for the same recipient, in order."""
        while job is not None:
            outcome = await self._outcome_of(job)
            self._slots.release()
            self.stats.count(outcome)
            await self._outcomes.put(outcome)
            waiting = self._queued[job.to]
            if waiting:
                job = waiting.popleft()
            else:
                del self._queued[job.to]
                job = None

    async def _pull(self) -> _Job | None:
        if self._ahead:
            return self._ahead.popleft()
        return await self._next_job()

    async def _next_job(self) -> _Job | None:
        if self._sync:  # next() runs without yielding: no other worker can interleave
            if self._exhausted:
                return None
            try:
                item = next(self._iterator)
            except StopIteration:
                self._exhausted = True
                return None
        else:
            async with self._pull_lock:  # anext() may yield: one puller at a time
                if self._exhausted:
                    return None
                try:
                    item = await anext(self._iterator)
                except StopAsyncIteration:
                    self._exhausted = True
                    return None
        index = self._index
        self._index += 1
        if self._shard is not None and not _in_shard(item, *self._shard):
            return await self._next_job()  # another worker's: every message to one person
        return _job(index, item, self._seen)

    def _outside_window(self, job: _Job) -> bool:
        """Whether a status showed this recipient's window closed (131047) and the message
        would fail the same way: a free-form one, in a run without a window policy (a policy
        reads the window store, which knows whether the user wrote since).
        """
        return (
            self._skip_unreachable
            and self._prepare is None
            and job.to in self._window_closed
            and not isinstance(job.message, TemplateMessage)
        )

    def _envelope_of(self, job: _Job) -> Envelope:
        """With a journal, each send is tagged ``<campaign>/<key>`` (unless the item has its
        own tag), so its statuses find their item even without ids.
        """
        envelope = job.envelope
        if self._campaign is None or envelope.callback_data is not None:
            return envelope
        tag = f"{self._campaign}/{job.key}"
        if len(tag) > CALLBACK_DATA_MAX:
            return envelope
        return attrs.evolve(envelope, callback_data=tag)

    async def _outcome_of(self, job: _Job) -> Outcome:
        journal = self._journal
        if job.error is not None:  # refused before sending: checked again by every run
            return Outcome(job.to, job.message, job.key, error=job.error)
        if journal is not None:
            earlier = journal.earlier(job.key, job.to, job.fingerprint)
            if earlier is not None:
                earlier.pop("conflict", None)  # the journal keeps the earlier record
                return Outcome(job.to, job.message, job.key, **earlier)
        if self._fatal is not None:  # never attempted: not recorded, so a rerun sends it
            return Outcome(job.to, job.message, job.key, error=NotAttempted(self._fatal))
        if self._skip_unreachable and job.to in self._unreachable:
            refused = UnreachableRecipient(job.to, self._unreachable[job.to])
            if journal is not None:
                journal.failed(job.key, job.to, job.fingerprint, refused)
            return Outcome(job.to, job.message, job.key, error=refused)
        if self._outside_window(job):
            # Not journaled: a later run, once the user has written, sends it.
            closed = OutsideWindow(job.to, time.time())
            return Outcome(job.to, job.message, job.key, error=closed)
        assert job.message is not None
        sending = job.message
        if self._prepare is not None:
            try:
                sending = await self._prepare(job.to, job.message)
            except GupshupError as refused:  # nothing sent: not journaled, a rerun looks again
                return Outcome(job.to, job.message, job.key, error=refused)
        body = encode_normalized(job.to, sending, self._envelope_of(job))
        try:
            result = await self._send(job.to, body, _Watch(self, job))
        except NotAttempted as error:
            return Outcome(job.to, job.message, job.key, error=error)
        except GupshupError as error:
            self._in_flight.discard(job.key)
            if isinstance(error, _FATAL) and self._fatal is None:
                self._fatal = error
            if journal is not None:
                journal.failed(job.key, job.to, job.fingerprint, error)
            return Outcome(job.to, job.message, job.key, error=error)
        self._in_flight.discard(job.key)
        if sending is not job.message:
            result = attrs.evolve(result, sent_instead=sending)
        if journal is not None:
            journal.sent(job.key, job.to, job.fingerprint, result)
        return Outcome(job.to, job.message, job.key, result=result)


def _job(index: int, item: Item, seen: dict[int, int] | None) -> _Job:
    """The job for an item, with its identity; ``seen`` counts the pairs met so far (kept
    with a journal only, where a deliberate repeat must get a key of its own).
    """
    try:
        target, message = item
    except (TypeError, ValueError):
        problem = ValidationError.at("item", f"must be a (to, message) pair, got {item!r:.60}")
        return _Job(index, "", f"item-{index + 1}", None, problem)
    explicit = target.key if isinstance(target, Recipient) else None
    written = target.to if isinstance(target, Recipient) else target
    if isinstance(message, ValidationError):
        return _Job(index, str(written), explicit or f"item-{index + 1}", None, message)
    try:
        to = normalize_recipient(written)
    except ValidationError as refused:
        return _Job(index, str(written), explicit or f"item-{index + 1}", message, refused)
    if not hasattr(message, "encoded"):
        not_a_message = f"must be a message, got {message!r:.60}"
        problem = ValidationError.at("interactive", not_a_message)
        return _Job(index, to, explicit or f"item-{index + 1}", None, problem)
    envelope = NO_ENVELOPE
    if isinstance(target, Recipient) and (target.reply_to or target.callback_data):
        try:
            envelope = Envelope(target.reply_to, target.callback_data)
        except ValidationError as refused:
            return _Job(index, to, explicit or f"item-{index + 1}", message, refused)
    print_ = fingerprint(message)
    key = explicit or _content_key(to, print_, seen)
    return _Job(index, to, key, message, None, print_, envelope)


def shard_of(recipient: str, shards: int) -> int:
    """The shard a recipient belongs to: a stable hash of the number as normalised."""
    with contextlib.suppress(ValidationError):  # a bad number keeps its own hash
        recipient = normalize_recipient(recipient)
    digest = hashlib.blake2b(recipient.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def _in_shard(item: Item, shard: int, shards: int) -> bool:
    try:
        target, _ = item
    except (TypeError, ValueError):
        return shard == 0  # not a pair: reported once, by the first shard
    written = target.to if isinstance(target, Recipient) else target
    return shard_of(str(written), shards) == shard


def _content_key(to: str, print_: str, seen: dict[int, int] | None) -> str:
    key = f"{to}:{print_}"
    if seen is None:
        return key
    mark = hash(key)  # an int: a tenth of the memory of the string, for a million items
    before = seen.get(mark, 0)
    seen[mark] = before + 1
    return key if before == 0 else f"{key}#{before + 1}"
