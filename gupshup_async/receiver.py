"""The webhook receiver: an ASGI application for Gupshup's version-3 callbacks.

It runs under any ASGI server (uvicorn, hypercorn, granian) and mounts in FastAPI or Starlette
(``app.mount("/hooks/gupshup", receiver)``). Each callback is checked (the shared-secret header
set in the subscription's ``meta``, in constant time), read within a size limit and parsed; a
4xx says what was wrong. Then what it carries is stored before it is acknowledged: a window
store is told who wrote (and whose window a 131047 showed closed), a campaign's `DeliveryStore`
records the statuses and which events it has seen, in one transaction synced to disk, and only
then does the callback get its 200. A store that fails gets a 503 and nothing is marked seen, so
Gupshup sends it again and it is stored then. Callbacks that arrive together share one commit.
New events (never repeats, known by what is stored) go through a bounded queue to your
handlers, each reply tied to the item it answers. A hostile body is a 4xx and a count, never a
crash; a body that trickles in is cut off (408), and the bytes held at once are bounded (503
beyond), so slow or large callbacks cannot hold the process. Log lines about failures come at
most once every 10 s each, with a count of those left out (`LogThrottle`).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import inspect
import logging
import math
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import attrs

from gupshup_async.errors import WebhookError
from gupshup_async.stores import (
    DeliveryRecorder,
    MemoryWindowStore,
    WindowStore,
    open_delivery_store,
)
from gupshup_async.webhooks import FROM_USER, MAX_BODY, Event, parse_events

if sys.version_info >= (3, 11):
    from asyncio import timeout as deadline
else:  # pragma: no cover - exercised on 3.10 only
    from async_timeout import timeout as deadline

__all__ = ["LogThrottle", "Receiver"]

logger = logging.getLogger("gupshup_async.receiver")

# Bodies larger than this are parsed off the event loop (a few statuses are a few KiB).
_PARSE_IN_THREAD = 64 * 1024

Handler = Callable[[Event], "Awaitable[None] | None"]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LogThrottle(logging.Filter):
    """A logging filter that lets each kind of line (its logger and message template) through
    at most once every ``seconds``, adding how many it left out since: a flood of bad requests
    or failing handlers costs a line every 10 s, not a disk. ``gupshup-async receive`` puts it
    on uvicorn's loggers and the receiver's.
    """

    def __init__(self, seconds: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.seconds = seconds
        self._clock = clock
        self._last: dict[tuple[str, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = self._clock()
        last, left_out = self._last.get(key, (-math.inf, 0))
        if now - last < self.seconds:
            self._last[key] = (last, left_out + 1)
            return False
        if len(self._last) > 1000:  # a bound, whatever the messages
            self._last.clear()
        self._last[key] = (now, 0)
        if left_out:
            record.msg = f"{record.msg} ({left_out} more like this left out of the log)"
        return True


class _Seen:
    """Identities handled lately: at most ``limit``, each for ``ttl`` seconds."""

    def __init__(self, ttl: float, limit: int) -> None:
        self.ttl, self.limit = ttl, limit
        self._when: collections.OrderedDict[tuple[str, ...], float] = collections.OrderedDict()

    def fresh(self, events: Iterable[Event]) -> list[Event]:
        now = time.monotonic()
        when = self._when
        while when and (len(when) > self.limit or next(iter(when.values())) < now - self.ttl):
            when.popitem(last=False)
        new: list[Event] = []
        for event in events:
            if event.identity in when:
                continue
            when[event.identity] = now
            new.append(event)
        return new


class Receiver:
    """``Receiver(secret, store="campaign.db", handlers=[on_event])``: an ASGI application.

    - ``secret``: the value of ``header`` every callback must carry (put both in the
      subscription's ``meta``); required, compared in constant time.
    - ``store``: a journal's path, a database's URL (``postgresql://...``: every receiver of
      a fleet records there, for every campaign), or a `DeliveryRecorder`: statuses are
      recorded against the messages campaigns sent, and a reply's ``item`` is the key of the
      item it answers. Optional.
    - ``windows``: a window store (`MemoryWindowStore`, `SqliteWindowStore`,
      `PostgresWindowStore`) told of every
      message from a user and every 131047 failure: what a client's window policy reads.
    - ``handlers``: called with each new event, in order, off the request (sync or async); an
      exception in one is logged and counted, and the others still run.
    - ``max_body``: larger bodies get 413; ``queue_size``: callbacks waiting for the handlers
      beyond it get 503 (Gupshup retries later); ``dedupe_seconds``: how long an event's
      identity is remembered to drop repeats (in the store, when there is one).
    - ``body_timeout``: seconds to receive a callback's whole body once its headers came; a
      body still trickling in then gets 408. ``max_held_bytes``: the most bytes of callbacks
      held at once, read and not yet handled; a callback beyond it gets 503 (Gupshup retries),
      so twenty 1 MiB bodies at once cannot take a gigabyte.

    A callback is answered 200 only once what it carries is stored (see the module's
    docstring); a store that fails (a full disk, a lock held past the store's timeout) is a 503.
    ``stats`` counts what came: ``accepted``, ``events``, ``duplicates``, ``handled``,
    ``handler_errors``, ``store_errors``, and refusals by status (``refused_401``,
    ``refused_503``...).
    """

    def __init__(
        self,
        secret: str,
        *,
        store: DeliveryRecorder | str | None = None,
        windows: WindowStore | None = None,
        handlers: Iterable[Handler] = (),
        header: str = "x-hook-secret",
        max_body: int = MAX_BODY,
        queue_size: int = 10_000,
        dedupe_seconds: float = 86_400.0,
        body_timeout: float = 10.0,
        max_held_bytes: int = 8 * 1024 * 1024,
    ) -> None:
        if not isinstance(secret, str) or not secret:
            raise ValueError("a Receiver needs a shared secret: without one anybody can post")
        self._secret = secret.encode()
        self._header = header.lower().encode("latin-1")
        self.store = open_delivery_store(store) if isinstance(store, str) else store
        self.windows = windows
        self.handlers = list(handlers)
        self.max_body = max_body
        self.body_timeout = body_timeout
        self.max_held_bytes = max_held_bytes
        self._held = 0  # bytes of callbacks read and not yet handled
        self._queue: asyncio.Queue[tuple[list[Event], int]] = asyncio.Queue(maxsize=queue_size)
        self._reserved = 0  # callbacks being stored, each with a place kept in the queue
        self._dedupe_seconds = dedupe_seconds
        self._seen = _Seen(dedupe_seconds, limit=max(queue_size * 10, 100_000))
        self._pending: list[tuple[list[Event], asyncio.Future[list[Event]]]] = []
        self._committer: asyncio.Task[None] | None = None
        # One thread writes, so SQLite connections are never used from two threads at once.
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "gupshup-receiver-store")
        self._log = LogThrottle()
        self._worker: asyncio.Task[None] | None = None
        self.stats: collections.Counter[str] = collections.Counter()

    def __repr__(self) -> str:
        return f"<Receiver store={self.store!r} handlers={len(self.handlers)}>"

    # ASGI ------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        status = await self._take(scope, receive)
        if status != 200:
            self.stats[f"refused_{status}"] += 1
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _take(self, scope: Scope, receive: Receive) -> int:
        if scope.get("method") != "POST":
            return 405
        given = b""
        for name, value in scope.get("headers", ()):
            if name.lower() == self._header:
                given = value
        if not hmac.compare_digest(given, self._secret):
            return 401
        try:
            async with deadline(self.body_timeout):
                body = await self._body(scope, receive)
        except asyncio.TimeoutError:  # TimeoutError itself from 3.11 on
            return 408
        if isinstance(body, int):
            return body
        size = len(body)
        self._held += size
        try:
            status, handled_later = await self._keep(body)
        finally:
            if not handled_later:
                self._held -= size
        return status

    async def _keep(self, body: bytes) -> tuple[int, bool]:
        """Parse and store one callback; its status, and whether its events were queued for
        the handlers (its bytes are held until they are handled).
        """
        try:
            # A large body is parsed in a thread: a megabyte of statuses takes over a second,
            # which would hold every other callback on this loop.
            if len(body) > _PARSE_IN_THREAD:
                events = await asyncio.to_thread(parse_events, body)
            else:
                events = parse_events(body)
        except WebhookError:
            return 400, False
        self._start()
        if self._queue.qsize() + self._reserved >= self._queue.maxsize:
            # The handlers are behind: Gupshup retries a callback it could not deliver.
            return 503, False
        self._reserved += 1
        try:
            fresh = await self._store(events)
        except Exception:
            self.stats["store_errors"] += 1
            self._log_failure(
                "storing a callback of %d events failed: answered 503 so Gupshup sends it "
                "again (%d such failures so far)",
                len(events),
                self.stats["store_errors"],
            )
            return 503, False  # nothing marked seen: Gupshup sends it again, stored then
        finally:
            self._reserved -= 1
        self.stats["events"] += len(fresh)
        self.stats["duplicates"] += len(events) - len(fresh)
        self.stats["accepted"] += 1
        if fresh:
            self._queue.put_nowait((fresh, len(body)))
            return 200, True
        return 200, False

    async def _store(self, events: list[Event]) -> list[Event]:
        """Store what ``events`` say, in a commit shared with the callbacks that arrive
        meanwhile; return the events not seen before, replies tied to their items. Done in the
        writer's thread, off the event loop, even with nothing on disk (repeats in memory).
        """
        if isinstance(self.windows, MemoryWindowStore):
            self.windows.record(events)  # in this thread: the client reads it here too
        done: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._pending.append((events, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.get_running_loop().create_task(
                self._commit_pending(), name="gupshup-receiver-commit"
            )
        return await done

    async def _commit_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                fresh = await loop.run_in_executor(
                    self._writer, self._write, [events for events, _ in batch]
                )
            except Exception as failed:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(failed)
                continue
            for (_, done), new in zip(batch, fresh, strict=True):
                if not done.done():
                    done.set_result(new)

    def _write(self, batches: list[list[Event]]) -> list[list[Event]]:
        """In the writer's thread: windows first (recording twice is harmless), then the
        statuses and the events seen, in one transaction; replies tied to their items.
        """
        if self.windows is not None and not isinstance(self.windows, MemoryWindowStore):
            for events in batches:
                self.windows.record(events)
        if self.store is None:
            return [self._seen.fresh(events) for events in batches]
        fresh = self.store.record_new(batches, forget_after=self._dedupe_seconds)
        return [self._tie(self.store, events) for events in fresh]

    def _log_failure(self, message: str, *args: object) -> None:
        """Log the exception being handled, through this receiver's `LogThrottle`."""
        if not logger.isEnabledFor(logging.ERROR):
            return
        record = logger.makeRecord(
            logger.name, logging.ERROR, __file__, 0, message, args, sys.exc_info()
        )
        if self._log.filter(record):
            logger.handle(record)

    async def _body(self, scope: Scope, receive: Receive) -> bytes | int:
        """The whole body, or the status that refuses it (413 too large, 503 too much held)."""
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body:
            return 413
        if self._held + (declared or 0) > self.max_held_bytes:
            return 503
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return 413
            if self._held + size > self.max_held_bytes:
                return 503
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # The background work ---------------------------------------------------------------------

    def _start(self) -> None:
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="gupshup-receiver"
            )

    @staticmethod
    def _tie(store: DeliveryRecorder, events: list[Event]) -> list[Event]:
        """The events with each reply tied to the item it answers."""
        tied: list[Event] = []
        for event in events:
            if isinstance(event, FROM_USER):
                delivery = store.answered(event)
                if delivery is not None and delivery.key is not None:
                    event = attrs.evolve(event, item=delivery.key)
            tied.append(event)
        return tied

    async def drain(self) -> None:
        """Wait until every event taken so far has been handled."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Handle what was taken, then stop the background task and close the store."""
        if self._worker is not None:
            await self._queue.join()
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        self._writer.shutdown(wait=True)
        if self.store is not None:
            self.store.close()

    async def _work(self) -> None:
        while True:
            events, size = await self._queue.get()
            try:
                await self._handle(events)
            finally:
                self._held -= size
                self._queue.task_done()

    async def _handle(self, fresh: list[Event]) -> None:
        for n, event in enumerate(fresh, 1):
            if n % 500 == 0:
                await asyncio.sleep(0)  # a large callback does not hold the loop while handled
            for handler in self.handlers:
                try:
                    done = handler(event)
                    if inspect.isawaitable(done):
                        await done
                except Exception:
                    self.stats["handler_errors"] += 1
                    self._log_failure("a webhook handler failed on %s", type(event).__name__)
            self.stats["handled"] += 1


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
