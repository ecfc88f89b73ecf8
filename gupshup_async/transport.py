"""HTTP1Transport: a lean HTTP/1.1 keep-alive transport for httpx, and the client's fast lane.

httpx's default transport (httpcore) costs about a millisecond of CPU per request under load,
and httpx's client layer (URL merging, header models, cookies, hooks, response objects) a few
hundred microseconds more: more than everything else a send does, validation included. This
module keeps the public seam (an ``httpx.AsyncClient``) and takes the cost out underneath:

- `HTTP1Transport` is an ``httpx.AsyncBaseTransport`` on asyncio's Protocol API: a pool of
  keep-alive connections per origin, responses framed by Content-Length, chunked encoding or
  the connection closing. Any ``httpx.AsyncClient`` can use it for any request.
- `HTTP1Transport.exchange` is the lane `GupshupClient` takes when the client's transport for
  the API's URL is one of these: a request head built once per token, the body written as it
  is, the answer returned as ``(status, headers, body)`` without httpx objects.

It speaks HTTP/1.1 only (no HTTP/2, no proxies: `GupshupClient` keeps httpx's default
transport when a proxy applies). While anything patches httpx (respx, pytest-httpx, tracing),
sends go through httpx, and a patched transport answers them: see `intercepted`.
"""

from __future__ import annotations

import asyncio
import collections
import re
import select
import ssl
import time
from collections.abc import Mapping

import httpcore
import httpx

__all__ = ["HTTP1Transport", "RawResponse"]

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024
_IDLE_CHECK = 1.0  # seconds idle after which a connection's socket is checked before reuse
_NO_BODY_STATUSES = frozenset({204, 304})

#: status, headers (lower-cased names, as bytes), body.
RawResponse = tuple[int, list[tuple[bytes, bytes]], bytes]

# What respx and pytest-httpx replace while they mock, and tracing (OpenTelemetry, Sentry,
# Datadog) wraps: compared by identity on every request.
_HTTPCORE_POOL = httpcore.AsyncConnectionPool.handle_async_request
_HTTPX_TRANSPORT = httpx.AsyncHTTPTransport.handle_async_request
_HTTPX_SEND = httpx.AsyncClient.send
# Imported while a mock was already in place, the functions above are the mock's: never trust
# the fast lane in this process then, or requests would slip past the mock.
_PATCHED_AT_IMPORT = not (
    _HTTPCORE_POOL.__module__.startswith("httpcore.")
    and _HTTPX_TRANSPORT.__module__.startswith("httpx.")
    and _HTTPX_SEND.__module__.startswith("httpx.")
)


def intercepted() -> bool:
    """Whether something has patched httpx's client or transport, or httpcore's pool: a test
    double (respx, pytest-httpx) or tracing. Sends then go through httpx all the way, where it
    expects to see them.
    """
    return _transport_patched() or httpx.AsyncClient.send is not _HTTPX_SEND


def _transport_patched() -> bool:
    """Whether httpx's transport or httpcore's pool is patched: what reaches `HTTP1Transport`
    then goes on to httpx's own transport, for the patch to answer.
    """
    return (
        _PATCHED_AT_IMPORT
        or httpcore.AsyncConnectionPool.handle_async_request is not _HTTPCORE_POOL
        or httpx.AsyncHTTPTransport.handle_async_request is not _HTTPX_TRANSPORT
    )


Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: httpx.URL) -> Origin:
    """Where connections for ``url`` go: its pool's key."""
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


_UNSAFE = re.compile(rb"[\r\n\0]")


def check_header(name: bytes, value: bytes) -> None:
    """Refuse a header that would end the line early: it could write headers of its own.
    The message never quotes the value (it may be a token).
    """
    if _UNSAFE.search(name) or _UNSAFE.search(value) or not name:
        raise httpx.LocalProtocolError(
            f"header {name[:40]!r} has a line break or NUL in its name or value"
        )


class HTTP1Transport(httpx.AsyncBaseTransport):
    """An HTTP/1.1 keep-alive transport: ``httpx.AsyncClient(transport=HTTP1Transport())``.

    - ``verify``: True (certifi's CAs, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), False, or an
      ``ssl.SSLContext``.
    - ``limits``: ``max_connections`` per origin, ``max_keepalive_connections`` kept idle,
      ``keepalive_expiry`` seconds before an idle connection is closed rather than reused.

    Timeouts come with each request, from the client: connect, pool (waiting for a free
    connection) and read (waiting for the answer, from the moment the request is written).
    """

    def __init__(
        self,
        *,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = httpx.Limits(),  # noqa: B008  (never mutated)
    ) -> None:
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._limits = limits
        self._pools: dict[Origin, _Pool] = {}
        self._fallback: httpx.AsyncHTTPTransport | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"HTTP1Transport(max_connections={self._limits.max_connections})"

    # The httpx seam ------------------------------------------------------------------------

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if _transport_patched():
            return await self._httpx_transport().handle_async_request(request)
        url = request.url
        origin = origin_of(url)
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), url.raw_path)]
        for name, value in request.headers.raw:
            if name.lower() not in (b"content-length", b"transfer-encoding"):
                check_header(name, value)
                head.append(b"%s: %s\r\n" % (name, value))
        if body or request.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            head.append(b"Content-Length: %d\r\n" % len(body))
        head.append(b"\r\n")
        status, headers, content = await self.exchange(
            origin,
            b"".join(head) + body,
            request.extensions.get("timeout", {}),
            bodiless=request.method == "HEAD",
        )
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(content),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        self._closed = True
        pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
        if self._fallback is not None:
            await self._fallback.aclose()

    # The fast lane -------------------------------------------------------------------------

    async def exchange(
        self,
        origin: Origin,
        request: bytes,
        timeout: Mapping[str, float | None],
        *,
        bodiless: bool = False,
    ) -> RawResponse:
        """Write ``request`` (a whole HTTP/1.1 request) to a connection to ``origin`` and read
        the answer (``bodiless``: the answer to a HEAD request, which has no body whatever its
        headers say). Raises httpx's transport errors, as httpx's own transport does.
        """
        if self._closed:
            raise RuntimeError("this HTTP1Transport is closed")
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(origin, self._limits, self._ssl_for(origin))
        connection = await pool.acquire(timeout.get("pool"), timeout.get("connect"))
        reusable = False
        try:
            response, reusable = await connection.exchange(request, timeout.get("read"), bodiless)
        finally:
            pool.release(connection, reusable)
        return response

    def _ssl_for(self, origin: Origin) -> ssl.SSLContext | None:
        if origin[0] != "https":
            if origin[0] != "http":
                raise httpx.UnsupportedProtocol(
                    f"HTTP1Transport speaks http and https, not {origin[0]}"
                )
            return None
        if self._ssl is None:
            if isinstance(self._verify, ssl.SSLContext):
                self._ssl = self._verify  # yours, used as it is
            else:
                self._ssl = httpx.create_ssl_context(self._verify)
                self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def _httpx_transport(self) -> httpx.AsyncHTTPTransport:
        if self._fallback is None:
            self._fallback = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits)
        return self._fallback


class _Pool:
    """Connections to one origin: idle ones reused last-in first-out, a queue of waiters."""

    def __init__(self, origin: Origin, limits: httpx.Limits, context: ssl.SSLContext | None):
        self._origin = origin
        self._ssl = context
        self._max = limits.max_connections or 1_000_000
        self._max_idle = (
            limits.max_keepalive_connections
            if limits.max_keepalive_connections is not None
            else self._max
        )
        self._expiry = limits.keepalive_expiry
        self._idle: list[_Connection] = []
        self._open = 0  # connections open or opening
        self._waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()
        self._closed = False

    async def acquire(
        self, pool_timeout: float | None, connect_timeout: float | None
    ) -> _Connection:
        idle = self._idle
        while idle:
            connection = idle.pop()
            if connection.fresh(self._expiry):
                return connection
            self._drop(connection)
        if self._open < self._max:
            self._open += 1
        else:
            handed = await self._wait(pool_timeout)
            if handed is not None:
                return handed
            # None: a place was kept for us, already counted in _open.
        try:
            return await self._connect(connect_timeout)
        except BaseException:
            self._open -= 1
            self._make_room()
            raise

    async def _wait(self, timeout: float | None) -> _Connection | None:
        """Wait for a connection handed over by `release`, or (None) a place to open one."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
        self._waiters.append(waiter)
        # Not asyncio.wait_for: before Python 3.12 it returns the result and drops the
        # cancellation when both arrive together, and a cancelled bulk worker would go on.
        timer = None if timeout is None else loop.call_later(timeout, _pool_timeout, waiter)
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                handed = waiter.result()  # given to us as we were cancelled: pass it on
                if handed is None:
                    self._open -= 1
                    self._make_room()
                else:
                    self.release(handed, True)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _connect(self, timeout: float | None) -> _Connection:
        _, host, port = self._origin
        loop = asyncio.get_running_loop()
        connecting = loop.create_task(
            loop.create_connection(
                _Connection,
                host,
                port,
                ssl=self._ssl,
                server_hostname=host if self._ssl is not None else None,
            )
        )
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            connecting.cancel()

        # Our own timer, not asyncio.wait_for: see _wait.
        timer = None if timeout is None else loop.call_later(timeout, expire)
        try:
            _, connection = await connecting
        except asyncio.CancelledError:
            if expired and connecting.cancelled():
                raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
            if connecting.done() and not connecting.cancelled() and not connecting.exception():
                connecting.result()[0].close()  # made as we were cancelled: not to be kept
            elif not connecting.done():
                connecting.cancel()
            raise
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"connecting to {host}:{port}: {exc}") from None
        finally:
            if timer is not None:
                timer.cancel()
        return connection

    def release(self, connection: _Connection, reusable: bool) -> None:
        if not reusable or connection.closed or self._closed:
            self._drop(connection)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if len(self._idle) < self._max_idle:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            self._drop(connection)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1
        self._make_room()

    def _make_room(self) -> None:
        """A place came free: keep it for the first waiter, so no newcomer takes it first."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._open += 1
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close the idle connections; those in use close when they come back."""
        self._closed = True
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, its answer framed as it arrives."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._answer: asyncio.Future[tuple[RawResponse, bool]] | None = None
        # One timer per connection, moved on lazily: a timer per request costs a heap push
        # and a cancelled entry, for a timeout that almost never fires.
        self._bodiless = False
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.idle_since = 0.0

    # asyncio's side

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        answer = self._answer
        if answer is None or answer.done():
            # Bytes nobody asked for, or past a whole answer: the connection cannot be trusted.
            self.close()
            return
        self._settle(answer, eof=False)

    def eof_received(self) -> bool:
        return False  # close our side too: HTTP/1.1 has no use for a half-open connection

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if exc is not None:
            answer.set_exception(httpx.ReadError(f"the connection broke: {exc}"))
        elif not self._settle(answer, eof=True):
            answer.set_exception(
                httpx.ReadError("the connection closed in the middle of the answer")
                if self._buffer
                else httpx.RemoteProtocolError("the server closed the connection without answering")
            )

    def _settle(self, answer: asyncio.Future[tuple[RawResponse, bool]], *, eof: bool) -> bool:
        """Frame the answer from what has arrived: True once it is settled, either way."""
        try:
            framed = _frame(self._buffer, eof=eof, bodiless=self._bodiless)
        except httpx.TransportError as error:
            answer.set_exception(error)
            return True
        if framed is None:
            return False
        answer.set_result(framed)
        return True

    # the pool's side

    def fresh(self, expiry: float | None) -> bool:
        if self.closed or self._transport is None or self._transport.is_closing():
            return False
        idle = time.monotonic() - self.idle_since
        if expiry is not None and idle >= expiry:
            return False
        # A server closes idle connections on its own schedule. Its FIN may have arrived
        # since the event loop last looked: ask the socket before reusing one that sat idle
        # (one system call; skipped under load, where connections never sit).
        return idle < _IDLE_CHECK or not self._readable()

    def _readable(self) -> bool:
        """Whether the socket has something to read while idle: the peer's FIN, or bytes
        nobody asked for. Either way the connection must not carry a request.
        """
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if sock is None:
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None and not self.closed:
            self.closed = True
            self._transport.close()

    async def exchange(
        self, request: bytes, read_timeout: float | None, bodiless: bool
    ) -> tuple[RawResponse, bool]:
        """Send one request, return its answer and whether the connection can be reused."""
        assert self._transport is not None
        if self.closed or self._transport.is_closing():
            # Closed by the server as it opened: nothing was written, so nothing was sent.
            raise httpx.ConnectError("the connection closed before the request was written")
        loop = asyncio.get_running_loop()
        self._buffer.clear()
        self._bodiless = bodiless
        answer = self._answer = loop.create_future()
        self._transport.write(request)
        if read_timeout is not None:
            self._deadline = loop.time() + read_timeout
            timer = self._timer
            if timer is None or timer.when() > self._deadline:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(self._deadline, self._check_deadline)
        try:
            response, keep_alive = await answer
        finally:
            self._answer = None
        return response, keep_alive and not self.closed

    def _check_deadline(self) -> None:
        self._timer = None
        answer = self._answer
        if answer is None or answer.done():
            return  # idle: the next request arms the timer again
        loop = answer.get_loop()
        if loop.time() >= self._deadline:
            answer.set_exception(httpx.ReadTimeout("no answer within the read timeout"))
        else:
            self._timer = loop.call_at(self._deadline, self._check_deadline)


def _pool_timeout(waiter: asyncio.Future[_Connection | None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.PoolTimeout("no connection became free in time"))


def _frame(buffer: bytearray, *, eof: bool, bodiless: bool) -> tuple[RawResponse, bool] | None:
    """One whole response from the start of ``buffer`` and whether the connection stays open;
    None while more bytes are needed. 1xx interim answers are skipped.
    """
    start = 0
    while True:
        end = buffer.find(b"\r\n\r\n", start)
        if (end if end >= 0 else len(buffer)) - start > _MAX_HEAD:
            raise httpx.RemoteProtocolError("the answer's head is too large")
        if end < 0:
            return None
        lines = bytes(buffer[start:end]).split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code = rest[:3]
        if (
            not version.startswith(b"HTTP/1.")
            or not code.isdigit()
            or (len(rest) > 3 and rest[3:4] != b" ")
        ):
            raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        status = int(code)
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon or not name or name != name.strip():
                raise httpx.RemoteProtocolError(f"malformed header line: {line[:80]!r}")
            headers.append((name.lower(), value.strip()))
        body_start = end + 4
        if 100 <= status < 200:
            start = body_start
            continue
        break
    keep_alive = version == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"connection":
            tokens = {token.strip().lower() for token in value.split(b",")}
            if b"close" in tokens:
                keep_alive = False
            elif b"keep-alive" in tokens:
                keep_alive = True
        elif name == b"transfer-encoding":
            chunked = value.lower().endswith(b"chunked")
        elif name == b"content-length":
            if not value.isdigit() or (length is not None and int(value) != length):
                raise httpx.RemoteProtocolError(f"bad Content-Length: {value[:40]!r}")
            length = int(value)
    if bodiless or status in _NO_BODY_STATUSES:
        body = b""
        consumed = body_start
    elif chunked:
        dechunked = _dechunk(buffer, body_start)
        if dechunked is None:
            if eof:
                raise httpx.ReadError("the connection closed in the middle of the answer")
            return None
        body, consumed = dechunked
    elif length is not None:
        if length > _MAX_BODY:
            raise httpx.RemoteProtocolError("the answer's body is too large")
        consumed = body_start + length
        if len(buffer) < consumed:
            if eof:
                raise httpx.ReadError("the connection closed in the middle of the answer")
            return None
        body = bytes(buffer[body_start:consumed])
    else:  # delimited by the connection closing
        if not eof:
            if len(buffer) - body_start > _MAX_BODY:
                raise httpx.RemoteProtocolError("the answer's body is too large")
            return None
        body = bytes(buffer[body_start:])
        consumed = len(buffer)
        keep_alive = False
    if len(buffer) > consumed:  # bytes past the answer: never reuse this connection
        keep_alive = False
    return (status, headers, body), keep_alive


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    parts: list[bytes] = []
    size_total = 0
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size_text = bytes(buffer[position:line_end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad chunk size: {size_text[:20]!r}") from None
        size_total += size
        if size_total > _MAX_BODY:
            raise httpx.RemoteProtocolError("the answer's body is too large")
        if size == 0:  # then trailers, if any, and an empty line
            if buffer[line_end + 2 : line_end + 4] == b"\r\n":
                return b"".join(parts), line_end + 4
            trailers_end = buffer.find(b"\r\n\r\n", line_end + 2)
            return None if trailers_end < 0 else (b"".join(parts), trailers_end + 4)
        chunk_end = line_end + 2 + size
        if len(buffer) < chunk_end + 2:
            return None
        if buffer[chunk_end : chunk_end + 2] != b"\r\n":
            raise httpx.RemoteProtocolError("a chunk does not end where its size says")
        parts.append(bytes(buffer[line_end + 2 : chunk_end]))
        position = chunk_end + 2
