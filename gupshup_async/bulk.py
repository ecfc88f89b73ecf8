"""send_many: streaming fan-out with order per recipient, one outcome per item, and a journal.

Items are pulled lazily by a bounded pool of workers. A worker that pulls an item for a
recipient already being sent to queues it behind that recipient and pulls the next one, so one
slow recipient never holds up the pool; the worker sending to a recipient drains its queue in
order. At most ``4 * concurrency`` items are held at once, however long the input.

What identifies an item (its recipient and message, or its key) is items.py's.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from gupshup_async._closing import AsyncClosing
from gupshup_async._confirm import Confirmer
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
    RecipientMoved,
    StopRequested,
    UnreachableRecipient,
    UserOptedOut,
    ValidationError,
)
from gupshup_async.items import Item, Job, in_shard, job_of
from gupshup_async.messages import (
    Envelope,
    Message,
    TemplateMessage,
    is_user_id,
    user_id_refused,
)
from gupshup_async.results import BulkStats, Outcome, SendResult
from gupshup_async.stores.journal import Recorded
from gupshup_async.stores.statuses import StatusReader
from gupshup_async.tags import Tag

if TYPE_CHECKING:
    from gupshup_async.stores import Journal

__all__ = ["UNSENDABLE_TEMPLATES", "AttemptWatch", "BulkRun", "Deliver", "template_refusal"]


class AttemptWatch(Protocol):
    """Told of each request of one send: the journal's hold on the send path."""

    @property
    def stores(self) -> bool:
        """Whether `prepare` stores something (an in-flight mark) the request must wait for."""

    @property
    def tag(self) -> Tag | None:
        """The send's tag at its first attempt in this run (None: the send is not tagged)."""

    def confirming(self, waiting: bool) -> None:
        """The send starts (True) or stops waiting for a status: let another send go meanwhile."""

    async def prepare(self) -> None:
        """Store what must be stored before the request leaves; run as its slot approaches."""

    def leaving(self) -> None:
        """The limiter let the request go; it leaves now. Raises `NotAttempted` to stop it."""

    def after(self, error: GupshupError | None) -> None:
        """The request ended: accepted (None) or failed with ``error``."""


class Deliver(Protocol):
    """How a run sends one item: the client's one send path (`GupshupClient.send_many` passes
    it, bound to the run's window policy). Raises `GupshupError`; one with ``attempts == 0``
    sent nothing (a window policy's refusal, a template that does not fit, the limiter away).
    """

    @property
    def decides_windows(self) -> bool:
        """Whether a window policy decides each free-form message (it reads the window store)."""

    def category_of(self, message: TemplateMessage) -> str | None:
        """The template's category (``MARKETING``, ``UTILITY``...) as the client's definitions
        give it, if they do.
        """

    async def __call__(
        self, recipient: str, message: Message, envelope: Envelope, watch: AttemptWatch | None
    ) -> SendResult:
        """Send ``message`` to ``recipient``, telling ``watch`` of each request."""


# A template in one of these states is refused by Meta (132015, 132016).
UNSENDABLE_TEMPLATES = frozenset({"PAUSED", "DISABLED", "REJECTED", "DELETED", "PENDING_DELETION"})


def template_refusal(
    recipient: str,
    message: TemplateMessage,
    status: str | None,
    category_of: Callable[[], str | None],
    *,
    opted_out: bool,
) -> GupshupError | None:
    """Why ``message`` must not go to ``recipient``, as webhooks told (None: it may go): the
    template is paused or disabled (``status``); it is a marketing template and the user
    stopped marketing messages; it is an authentication template and the recipient a user id
    (Meta refuses it: 131062). ``category_of`` gives the template's category, asked only
    when it matters. Campaigns and single sends decide alike, here.
    """
    if status is not None and status.upper() in UNSENDABLE_TEMPLATES:
        return ValidationError.at(
            "template.name",
            f"{message.name} ({message.language}) is {status.upper()}, as a template status "
            "webhook said: Meta would refuse it (132015/132016); not sent",
        )
    to_user_id = is_user_id(recipient)
    if not opted_out and not to_user_id:
        return None
    category = (category_of() or "").upper()
    if category == "MARKETING" and opted_out:
        return UserOptedOut(recipient, message.name)
    if category == "AUTHENTICATION" and to_user_id:
        return user_id_refused(message.name)
    return None


# After one of these, every other item would fail the same way: stop sending.
_FATAL = (
    AuthenticationError,
    BillingNotEnabledError,
    InvalidAppError,
    AppNotOnCloudError,
    AccountError,
    LimiterUnavailable,
    JournalError,
)


@attrs.define
class _RunState:
    """What a run and the watches of its sends share."""

    journal: Journal | None
    fatal: GupshupError | None = None  # after this, nothing more is sent
    # keys with an in-flight mark (being) stored whose request has not left: forgotten on a stop
    marked: set[str] = attrs.Factory(set)
    in_flight: set[str] = attrs.Factory(set)  # keys whose request may have left


class _Watch:
    """The in-flight bookkeeping of one item's send, attempt by attempt."""

    __slots__ = ("job", "maybe_delivered", "number", "run", "state", "tag")

    def __init__(self, run: BulkRun, job: Job, tag: Tag | None) -> None:
        self.run = run
        self.state = run._state
        self.job = job
        self.tag = tag
        self.maybe_delivered = False
        # The number of the next request over all runs (a resumed item's go on from its last).
        self.number = tag.attempt if tag is not None else 1

    @property
    def stores(self) -> bool:
        return self.state.journal is not None

    def confirming(self, waiting: bool) -> None:
        self.run._confirming(waiting)

    async def prepare(self) -> None:
        state, job = self.state, self.job
        if state.fatal is not None:  # it came while this one waited
            raise NotAttempted(state.fatal)
        if state.journal is not None:
            state.marked.add(job.key)
            await state.journal.in_flight(job.key, job.to, job.fingerprint, self.number)

    def leaving(self) -> None:
        self.number += 1
        state, key = self.state, self.job.key
        if state.fatal is not None:  # it came while this one waited for its slot
            if key in state.marked and not self.maybe_delivered and state.journal is not None:
                state.journal.unsent(key)  # the mark of a request that never left
            state.marked.discard(key)
            raise NotAttempted(state.fatal)
        state.marked.discard(key)
        state.in_flight.add(key)

    def after(self, error: GupshupError | None) -> None:
        if error is not None and error.ambiguous:
            self.maybe_delivered = True
        if error is not None and not self.maybe_delivered:
            self.state.in_flight.discard(self.job.key)  # that request left nothing behind


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
        deliver: Deliver,
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        concurrency: int,
        journal: Journal | None,
        skip_unreachable: bool = True,
        status_poll: float = 1.0,
        shard: tuple[int, int] | None = None,
        stats: BulkStats | None = None,
        region: str | None = None,
        confirmer: Confirmer | None = None,
        confirm_within: float = 0.0,
    ) -> None:
        if shard is not None and not (
            isinstance(shard, tuple) and len(shard) == 2 and 0 <= shard[0] < shard[1]
        ):
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {shard!r}")
        self._shard = shard
        self._region = region  # of numbers written without their country code
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.stats = BulkStats() if stats is None else stats
        self._deliver = deliver
        self._items = items
        self._concurrency = concurrency
        self._state = _RunState(journal)
        self._outcomes: asyncio.Queue[Outcome | None] = asyncio.Queue(maxsize=2 * concurrency)
        self._slots = asyncio.Semaphore(4 * concurrency)
        # An item starts only against an outcome the consumer took (plus ``concurrency`` to
        # begin with): a consumer that stops pulling (a bare ``break``) stops new sends.
        self._demand = asyncio.Semaphore(concurrency)
        self._pull_lock = asyncio.Lock()
        self._queued: dict[str, collections.deque[Job]] = {}
        self._seen: dict[int, int] | None = {} if journal is not None else None
        self._campaign: str | None = None
        self._skip_unreachable = skip_unreachable
        self._status_poll = status_poll
        self._unreachable: dict[str, int | None] = {}
        self._window_closed: set[str] = set()
        self._opted_out: set[str] = set()
        self._moved: dict[str, str] = {}
        self._templates: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._index = 0
        self._iterator: Any = None
        self._sync = True
        self._exhausted = False
        self._workers: list[asyncio.Task[None]] = []
        self._closer: asyncio.Task[None] | None = None
        self._crash: BaseException | None = None
        self._journal_failure: JournalError | None = None
        self._finished = False
        self._confirmer = confirmer
        self._confirm_within = confirm_within
        # A resumed run's, made when needed: one poller for every item waiting out the horizon.
        self._resume_source: StatusReader | None = None
        self._resume_confirmer: Confirmer | None = None
        # Sends waiting for a status hold their recipient only: a stand-in worker takes each
        # one's place, and as many workers leave once the waits are over.
        self._surplus = 0
        self._owed = 0  # demand handed to stand-ins, taken back as outcomes are taken

    # The consumer's side -------------------------------------------------------------------

    def __aiter__(self) -> BulkRun:
        return self

    async def __anext__(self) -> Outcome:
        if not self._workers and not self._finished:
            await self._start()
        outcome = await self._outcomes.get() if not self._finished else None
        if outcome is None:
            self._finished = True
            self.stats.ended = time.monotonic()
            await self._stop()
            if self._crash is not None:
                raise RuntimeError("send_many stopped on an internal error") from self._crash
            if self._journal_failure is not None:
                raise self._journal_failure  # every outcome was given; nothing was lost
            raise StopAsyncIteration
        if self._owed:
            self._owed -= 1  # a stand-in started an item against this one
        else:
            self._demand.release()  # taken: another item may start
        return outcome

    def stop(self) -> None:
        """Start nothing new; let the requests already on the wire finish, so that their
        outcome is known. Every item not started ends at once as `NotAttempted` (its cause a
        `StopRequested`), unrecorded, for the same command to send later; keep iterating to
        get them and the last outcomes. `aclose` stops at once instead.
        """
        if self._state.fatal is None:
            self._state.fatal = StopRequested()

    async def aclose(self) -> None:
        """Stop sending. What was in flight is recorded as ambiguous in the journal."""
        self._finished = True
        if self.stats.ended is None:
            self.stats.ended = time.monotonic()
        await self._stop()

    # The workers ---------------------------------------------------------------------------

    async def _start(self) -> None:
        if self._state.journal is not None:
            await self._state.journal.open()
        items = self._items
        self._sync = not isinstance(items, AsyncIterable)
        self._iterator = iter(items) if self._sync else aiter(items)  # type: ignore[arg-type]
        if self._state.journal is not None:
            self._campaign = self._state.journal.campaign
            await self._state.journal.refresh()
            self.learn_from_statuses()  # what is known before the first send, not a poll later
        self._workers = []
        for _ in range(self._concurrency):
            self._add_worker()
        self._closer = asyncio.create_task(self._close_when_done(), name="gupshup-bulk-done")
        if self._state.journal is not None:
            self._watcher = asyncio.create_task(self._watch_statuses(), name="gupshup-bulk-watch")

    async def _watch_statuses(self) -> None:
        """What the webhook receiver records in the journal feeds back into the run: an
        account-level failure stops it, a recipient that failed for good is not sent again.
        """
        while self._state.journal is not None:
            await asyncio.sleep(self._status_poll)
            try:
                await self._state.journal.refresh()
            except JournalError:
                return  # the journal's failure is set: the next mark raises it, the run stops
            self.learn_from_statuses()

    async def read_statuses(self) -> None:
        """Read what receivers recorded so far, in this process or any other (the run does so
        every ``status_poll``), and act on it from the next item. Raises `JournalError` when
        the journal cannot be read.
        """
        if self._state.journal is not None:
            await self._state.journal.refresh()
        self.learn_from_statuses()

    def learn_from_statuses(self) -> None:
        """Act on what the journal last read of the statuses: from a file, all recorded so far;
        from a database, what it read when the run opened or at its latest `read_statuses`.
        """
        if self._state.journal is None:
            return
        self._opted_out = self._state.journal.opted_out()
        self._moved = self._state.journal.moved()
        self._templates = self._state.journal.template_states()
        for recipient, code in self._state.journal.failures():
            meaning = CODES.get(code) if code is not None else None
            if meaning is not None and meaning.scope == "account" and self._state.fatal is None:
                self._state.fatal = AccountError(
                    f"a status said {meaning.meaning} (code {code}): {meaning.todo}",
                    status_code=200,
                    code=code,
                )
            elif code in UNREACHABLE_CODES:
                self._unreachable[recipient] = code
            elif code == WINDOW_CLOSED:
                self._window_closed.add(recipient)

    def _add_worker(self) -> None:
        name = f"gupshup-bulk-{len(self._workers)}"
        self._workers.append(asyncio.create_task(self._work(), name=name))

    def _confirming(self, waiting: bool) -> None:
        """A send starts or stops waiting for a status: its worker is held, another takes its
        place (with its share of the consumer's demand) so the others keep going.
        """
        if waiting:
            self._demand.release()
            if not self._exhausted:
                self._add_worker()
            else:
                self._surplus -= 1  # none added: none need leave
        else:
            self._owed += 1
            self._surplus += 1

    async def _close_when_done(self) -> None:
        finished: list[Any] = []
        while len(finished) < len(self._workers):  # stand-ins may join meanwhile
            finished += await asyncio.gather(
                *self._workers[len(finished) :], return_exceptions=True
            )
        crashes = [
            f
            for f in finished
            if isinstance(f, BaseException) and not isinstance(f, asyncio.CancelledError)
        ]
        if crashes:  # a bug, not a failed send: never end as if every item were accounted for
            self._crash = crashes[0]
        if self._state.journal is not None and not self._finished:
            await self._state.journal.flush()
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
        if self._state.journal is not None:
            self._journal_failure = self._state.journal.failure
            for key in self._state.marked - self._state.in_flight:
                self._state.journal.unsent(key)
            for key in self._state.in_flight:
                self._state.journal.ambiguous(key, "stopped while the request was in flight")
            self._state.marked.clear()
            self._state.in_flight.clear()
            await self._state.journal.close()
            self._state.journal = None
        if self._resume_source is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._resume_source.close)
            self._resume_source = self._resume_confirmer = None

    async def _work(self) -> None:
        while True:
            if self._surplus > 0:  # a stand-in no longer needed
                self._surplus -= 1
                return
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

    async def _chain(self, job: Job | None) -> None:
        """Send ``job``, then everything queued behind it for the same recipient, in order."""
        while job is not None:
            await self._demand.acquire()
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

    async def _pull(self) -> Job | None:
        return await self._next_job()

    async def _next_job(self) -> Job | None:
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
        if self._shard is not None and not in_shard(item, *self._shard, self._region):
            return await self._next_job()  # another worker's: every message to one person
        return job_of(index, item, self._seen, self._region)

    def _outside_window(self, job: Job) -> bool:
        """Whether a status showed this recipient's window closed (131047) and the message
        would fail the same way: a free-form one, in a run without a window policy (a policy
        reads the window store, which knows whether the user wrote since).
        """
        return (
            self._skip_unreachable
            and not self._deliver.decides_windows
            and job.to in self._window_closed
            and not isinstance(job.message, TemplateMessage)
        )

    def _template_refusal(self, job: Job) -> GupshupError | None:
        """What the events the receiver stored say against sending this template
        (`template_refusal`); a refusal for a paused template is not journaled: once it is
        approved again, the same command sends it.
        """
        message = job.message
        if not isinstance(message, TemplateMessage):
            return None
        status, category = self._templates.get((message.name, message.language), (None, None))
        return template_refusal(
            job.to,
            message,
            status,
            lambda: category or self._deliver.category_of(message),
            opted_out=job.to in self._opted_out,
        )

    def _tag_of(self, job: Job) -> Tag | None:
        """With a journal, each send is tagged ``<campaign>/<key>`` (unless the item has its
        own tag), so its statuses find their item even without ids; a resumed item's attempts
        go on from the number its last one had.
        """
        journal = self._state.journal
        if self._campaign is None or job.envelope.callback_data is not None:
            return None
        first = journal.attempts_of(job.key) + 1 if journal is not None else 1
        tag = Tag(self._campaign, job.key, first)
        return tag if tag.fits else None

    async def _settle(self, job: Job, earlier: Recorded) -> Recorded | None:
        """An item an earlier run left uncertain: the statuses say whether it went; without
        one, ``resend_unconfirmed`` sends it once ``unconfirmed_after`` has passed since its
        last attempt (waiting out the rest, holding this recipient only). None: send it.
        """
        journal, uncertain = self._state.journal, earlier.uncertain
        assert journal is not None
        assert uncertain is not None
        confirmer = self._confirmer
        if confirmer is not None:
            found = await confirmer.check(uncertain.tags)
            if found:
                return Recorded(result=found[0].result(job.to, attempts=0))
        if not journal.resend_unconfirmed:
            return earlier
        if confirmer is None:
            if self._resume_confirmer is None:
                self._resume_source = journal.status_source()
                self._resume_confirmer = Confirmer(self._resume_source)
            confirmer = self._resume_confirmer
        remaining = journal.unconfirmed_after - (time.time() - uncertain.since)
        self._confirming(True)
        try:
            seen = await confirmer.wait(uncertain.tags, remaining)
        finally:
            self._confirming(False)
        if seen is not None:
            return Recorded(result=seen.result(job.to, attempts=0))
        return None

    async def _outcome_of(self, job: Job) -> Outcome:
        journal = self._state.journal
        if job.error is not None:  # refused before sending: checked again by every run
            return Outcome(job.to, job.message, job.key, error=job.error)
        if journal is not None:
            earlier = journal.earlier(job.key, job.to, job.fingerprint)
            if earlier is not None and earlier.uncertain is not None:
                earlier = await self._settle(job, earlier)
            if earlier is not None and earlier.result is not None and earlier.result.confirmed:
                journal.sent(job.key, job.to, job.fingerprint, earlier.result)
            if earlier is not None:  # on a conflict, the journal keeps the earlier record
                return Outcome(
                    job.to,
                    job.message,
                    job.key,
                    result=earlier.result,
                    error=earlier.error,
                    skipped=not earlier.conflict,
                )
        if self._state.fatal is not None:  # never attempted: not recorded, so a rerun sends it
            return Outcome(job.to, job.message, job.key, error=NotAttempted(self._state.fatal))
        if self._skip_unreachable and job.to in self._unreachable:
            refused = UnreachableRecipient(job.to, self._unreachable[job.to])
            if journal is not None:
                journal.failed(job.key, job.to, job.fingerprint, refused)
            return Outcome(job.to, job.message, job.key, error=refused)
        declined = self._template_refusal(job)
        if declined is None and job.to in self._moved:
            declined = RecipientMoved(job.to, self._moved[job.to])
        if declined is not None:
            if isinstance(declined, (UserOptedOut, RecipientMoved)) and journal is not None:
                journal.failed(job.key, job.to, job.fingerprint, declined)
            return Outcome(job.to, job.message, job.key, error=declined)
        if self._outside_window(job):
            # Not journaled: a later run, once the user has written, sends it.
            closed = OutsideWindow(job.to, time.time())
            return Outcome(job.to, job.message, job.key, error=closed)
        assert job.message is not None
        try:
            result = await self._deliver(
                job.to, job.message, job.envelope, _Watch(self, job, self._tag_of(job))
            )
        except NotAttempted as error:
            return Outcome(job.to, job.message, job.key, error=error)
        except GupshupError as error:
            self._state.in_flight.discard(job.key)
            if isinstance(error, _FATAL) and self._state.fatal is None:
                self._state.fatal = error
            # Nothing sent (a window policy's refusal, a misfit template, the limiter away), or
            # refused for the account's sake (a bad token, billing): not journaled as the
            # item's failure, so the same command sends it once the cause is fixed.
            if journal is not None and error.attempts > 0:
                maybe = error.ambiguous or error.ambiguous_attempts
                if isinstance(error, _FATAL) and not maybe:
                    journal.unsent(job.key)
                else:
                    journal.failed(job.key, job.to, job.fingerprint, error)
            return Outcome(job.to, job.message, job.key, error=error)
        self._state.in_flight.discard(job.key)
        if journal is not None:
            journal.sent(job.key, job.to, job.fingerprint, result)
        return Outcome(job.to, job.message, job.key, result=result)
