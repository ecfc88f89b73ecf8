"""send_many: streaming fan-out with order per recipient, one outcome per item, and a journal.

Items are pulled lazily by a bounded pool of workers. A worker that pulls an item for a
recipient already being sent to queues it behind that recipient and pulls the next one, so one
slow recipient never holds up the pool; the worker sending to a recipient drains its queue in
order. At most ``4 * concurrency`` items are held at once, however long the input.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from gupshup_async._closing import AsyncClosing
from gupshup_async.errors import (
    AppNotOnCloudError,
    AuthenticationError,
    BillingNotEnabledError,
    GupshupError,
    InvalidAppError,
    ValidationError,
)
from gupshup_async.messages import Message, normalize_recipient
from gupshup_async.messages._payload import encode_normalized
from gupshup_async.results import BulkStats, Item, Outcome, Recipient, SendResult

if TYPE_CHECKING:
    from gupshup_async.journal import Journal

__all__ = ["BulkRun", "SendBody"]

#: What a run sends with: ``(recipient, request body) -> SendResult``, raising `GupshupError`.
#: `GupshupClient.send_many` passes its own send path.
SendBody = Callable[[str, bytes], Awaitable[SendResult]]


# After one of these, every other item would fail the same way: stop sending.
_FATAL = (AuthenticationError, BillingNotEnabledError, InvalidAppError, AppNotOnCloudError)


@attrs.frozen
class _Job:
    index: int
    to: str  # normalised, or as given when it could not be
    key: str
    message: Message | None
    error: GupshupError | None  # refused before sending


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
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.stats = BulkStats()
        self._send = send
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
        self._workers = [
            asyncio.create_task(self._work(), name=f"gupshup-bulk-{n}")
            for n in range(self._concurrency)
        ]
        self._closer = asyncio.create_task(self._close_when_done(), name="gupshup-bulk-done")

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
        for task in (*self._workers, *([self._closer] if self._closer else [])):
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._closer is not None:
            await asyncio.gather(self._closer, return_exceptions=True)
        if self._journal is not None:
            for key in self._committing:
                self._journal.unsent(key, "stopped before its request left")
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
        return _job(index, item)

    async def _outcome_of(self, job: _Job) -> Outcome:
        journal = self._journal
        if job.error is not None:
            if journal is not None:
                journal.failed(job.key, job.to, job.error)
            return Outcome(job.to, job.message, job.key, error=job.error)
        if journal is not None:
            earlier = journal.earlier(job.key)
            if earlier is not None:
                return Outcome(job.to, job.message, job.key, **earlier)
        if self._fatal is not None:
            return Outcome(job.to, job.message, job.key, error=self._fatal)
        assert job.message is not None
        body = encode_normalized(job.to, job.message)
        if journal is not None:
            self._committing.add(job.key)
            await journal.in_flight(job.key, job.to)
            self._committing.discard(job.key)
        self._in_flight.add(job.key)
        try:
            result = await self._send(job.to, body)
        except GupshupError as error:
            self._in_flight.discard(job.key)
            if isinstance(error, _FATAL) and self._fatal is None:
                self._fatal = error
            if journal is not None:
                journal.failed(job.key, job.to, error)
            return Outcome(job.to, job.message, job.key, error=error)
        self._in_flight.discard(job.key)
        if journal is not None:
            journal.sent(job.key, job.to, result)
        return Outcome(job.to, job.message, job.key, result=result)


def _job(index: int, item: Item) -> _Job:
    try:
        target, message = item
    except (TypeError, ValueError):
        problem = ValidationError.at("item", f"must be a (to, message) pair, got {item!r:.60}")
        return _Job(index, "", str(index), None, problem)
    if isinstance(target, Recipient):
        written, key = target.to, target.key if target.key is not None else str(index)
    else:
        written, key = target, str(index)
    if isinstance(message, ValidationError):
        return _Job(index, str(written), key, None, message)
    try:
        to = normalize_recipient(written)
    except ValidationError as refused:
        return _Job(index, str(written), key, message, refused)
    if not hasattr(message, "encoded"):
        not_a_message = f"must be a message, got {message!r:.60}"
        return _Job(index, to, key, None, ValidationError.at("interactive", not_a_message))
    return _Job(index, to, key, message, None)
