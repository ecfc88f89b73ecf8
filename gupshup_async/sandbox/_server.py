"""The sandbox's I/O shell: a small HTTP/1.1 keep-alive server on asyncio's Protocol API.

Hand-written instead of h11 or http.server because the sandbox must never be what limits a
benchmark: it parses only what the client sends (request line, headers, Content-Length body).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

import httpx

from gupshup_async._closing import AsyncClosing
from gupshup_async.sandbox._rules import (
    SANDBOX_APP_ID,
    SANDBOX_TOKEN,
    Account,
    Answer,
    Faults,
    Processed,
    SandboxRules,
    reply_event,
    status_event,
)

__all__ = ["Sandbox"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


class _Connection(asyncio.Protocol):
    __slots__ = ("_buffer", "_busy", "_closed", "_sandbox", "_transport")

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._buffer = bytearray()
        self._busy = False  # an answer is delayed: later requests wait their turn
        self._closed = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._sandbox._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._sandbox._connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._serve()

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.close()

    def _serve(self) -> None:
        buffer = self._buffer
        while not self._busy and not self._closed:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    self._write(431, b"", close=True)
                return
            try:
                method, target, headers = _parse_head(bytes(buffer[:end]))
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._write(400, b"", close=True)
                return
            if "chunked" in headers.get("transfer-encoding", "") or length > _MAX_BODY:
                self._write(411 if length <= _MAX_BODY else 413, b"", close=True)
                return
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            del buffer[:total]
            sandbox = self._sandbox
            seen = len(sandbox.account.processed)
            answer = sandbox.rules.answer(method, target, headers, body, time.monotonic())
            if sandbox.callback_url is not None and len(sandbox.account.processed) > seen:
                sandbox._report(sandbox.account.processed[seen:])
            close = headers.get("connection", "").lower() == "close"
            if answer.drops_connection:
                self.close()
                return
            if answer.delay:
                self._busy = True
                loop = asyncio.get_running_loop()
                loop.call_later(answer.delay, self._late, answer, close)
                return
            self._send(answer, close)

    def _late(self, answer: Answer, close: bool) -> None:
        self._busy = False
        if not self._closed:
            self._send(answer, close)
            self._serve()

    def _send(self, answer: Answer, close: bool) -> None:
        extra = b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in answer.headers)
        self._write(answer.status, answer.body, close=close, extra=extra)

    def _write(self, status: int, body: bytes, *, close: bool, extra: bytes = b"") -> None:
        assert self._transport is not None
        self._transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s%s\r\n%s"
            % (
                status,
                _REASONS.get(status, b"Unknown"),
                len(body),
                extra,
                b"connection: close\r\n" if close else b"",
                body,
            )
        )
        if close:
            self.close()


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(line)
        headers[name.strip().lower()] = value.strip()
    return method, target, headers


class Sandbox(AsyncClosing):
    """A local Gupshup look-alike on 127.0.0.1, for demos, tests and benchmarks.

    ::

        async with Sandbox(rate=80, faults=Faults(unavailable=0.05)) as sandbox:
            async with GupshupClient(SANDBOX_APP_ID, SANDBOX_TOKEN, base_url=sandbox.base_url):
                ...
            sandbox.account.processed   # what was accepted, in order

    ``apps`` maps app ids to their tokens (one app, ``sandbox-app``, by default);
    ``billing_disabled`` and ``not_on_cloud`` name apps that fail that way; ``rate`` is the
    requests per second (sliding one-second window) above which it answers 429, with a
    ``Retry-After`` of ``retry_after`` seconds when set; ``faults`` and ``seed`` inject
    failures; ``validate=False`` accepts any interactive object.

    With ``callback_url``, it posts version-3 status callbacks for every message it accepts
    (``statuses``, ``status_delay`` seconds apart; ``sent`` then ``failed`` for numbers in
    ``undeliverable``), with ``callback_headers`` (the subscription's ``meta`` headers), and
    `tap` posts a user's tap on a button or list row.
    """

    app_id = SANDBOX_APP_ID
    token = SANDBOX_TOKEN

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        apps: Mapping[str, str] | None = None,
        billing_disabled: frozenset[str] | set[str] = frozenset(),
        not_on_cloud: frozenset[str] | set[str] = frozenset(),
        rate: float | None = None,
        retry_after: float | None = None,
        faults: Faults = Faults(),  # noqa: B008  (frozen)
        seed: int = 0,
        validate: bool = True,
        callback_url: str | None = None,
        callback_headers: Mapping[str, str] | None = None,
        statuses: Sequence[str] = ("sent", "delivered", "read"),
        undeliverable: frozenset[str] | set[str] = frozenset(),
        status_delay: float = 0.01,
    ) -> None:
        self.callback_url = callback_url
        self.callback_headers = dict(callback_headers or {})
        self.statuses = tuple(statuses)
        self.undeliverable = frozenset(undeliverable)
        self.status_delay = status_delay
        self._callbacks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None
        self.host = host
        self.port = port
        self.rules = SandboxRules(
            apps=apps,
            billing_disabled=frozenset(billing_disabled),
            not_on_cloud=frozenset(not_on_cloud),
            rate=rate,
            retry_after=retry_after,
            faults=faults,
            seed=seed,
            validate=validate,
        )
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    @property
    def account(self) -> Account:
        return self.rules.account

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def tap(
        self,
        message_id: str,
        reply_id: str,
        title: str | None = None,
        *,
        kind: str = "button_reply",
        description: str | None = None,
    ) -> None:
        """Post the callback of the user tapping button (or list row, ``kind="list_reply"``)
        ``reply_id`` of the message ``message_id`` (a message the sandbox accepted).
        """
        processed = next((p for p in self.account.processed if p.message_id == message_id), None)
        if processed is None:
            raise LookupError(f"the sandbox accepted no message {message_id!r}")
        event = reply_event(
            processed.app_id,
            processed,
            reply_id,
            title if title is not None else reply_id,
            int(time.time()),
            kind=kind,
            description=description,
        )
        await self._post(event)

    def _report(self, processed: Sequence[Processed]) -> None:
        for item in processed:
            task = asyncio.get_running_loop().create_task(self._statuses(item))
            self._callbacks.add(task)
            task.add_done_callback(self._callbacks.discard)

    async def _statuses(self, item: Processed) -> None:
        statuses = ("sent", "failed") if item.to in self.undeliverable else self.statuses
        for status in statuses:
            await asyncio.sleep(self.status_delay)
            await self._post(status_event(item.app_id, item, status, int(time.time())))

    async def _post(self, event: Mapping[str, Any]) -> None:
        if self.callback_url is None:
            raise RuntimeError("the sandbox has no callback_url")
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0)
        try:
            await self._http.post(self.callback_url, json=event, headers=self.callback_headers)
        except httpx.HTTPError:
            self.account.faults["callback_failed"] += 1

    async def stop(self) -> None:
        for task in list(self._callbacks):
            task.cancel()
        await asyncio.gather(*self._callbacks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def aclose(self) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self.port}" if self._server else "stopped"
        return f"<Sandbox {where}>"
