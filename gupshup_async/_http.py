"""The one exchange every request goes through: sends, the template list and the token
endpoints alike.

A request is built and sent through the public API of the one ``httpx.AsyncClient``, its
answer read whole within the attempt's deadline and refused beyond a size cap; a failure of the
HTTP engine (httpx, and aiohttp under httpx-aiohttp) becomes a `TransportError` that says
whether the request may have reached the server. What a whole answer means is answers.py's.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import aiohttp
import attrs
import httpx

from gupshup_async.answers import (
    MAX_ANSWER_BYTES,
    error_from_response,
    parse_retry_after,
    unexpected_interim,
)
from gupshup_async.errors import APIError, GupshupError, TransportError

if sys.version_info >= (3, 11):
    from asyncio import timeout as deadline
else:  # pragma: no cover - exercised on 3.10 only
    from async_timeout import timeout as deadline

ErrorT = TypeVar("ErrorT", bound=GupshupError)

__all__ = [
    "ENGINE_ERRORS",
    "Answer",
    "Exchange",
    "not_ascii",
    "redacted",
    "token_headers",
    "total_timeout",
    "transport_error",
]


@attrs.frozen
class Answer:
    """A final answer, read whole; ``secret``, what the request carried that the answer must
    never pass on (the token).
    """

    status: int
    headers: httpx.Headers
    content: bytes
    secret: str | None = attrs.field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def refusal(self) -> APIError:
        """The error a non-2xx answer means, with its ``Retry-After`` read; a server or proxy
        that echoes the request's headers does not get the token into the error.
        """
        wait = parse_retry_after(self.headers.get("retry-after"), time.time())
        return redacted(error_from_response(self.status, self.content, wait), self.secret)


_REDACTED = "[redacted]"


def redacted(error: ErrorT, secret: str | None) -> ErrorT:
    """``error`` with every occurrence of ``secret`` in its message and body replaced."""
    if not secret:
        return error
    error.args = tuple(
        arg.replace(secret, _REDACTED) if isinstance(arg, str) else arg for arg in error.args
    )
    body = getattr(error, "body", None)
    if isinstance(body, str) and secret in body:
        error.body = body.replace(secret, _REDACTED)  # type: ignore[attr-defined]
    return error


class Exchange:
    """Sends a request and reads its answer: the attempt's deadline, the size cap, the engine's
    failures as `TransportError`, a 1xx final answer refused, a non-ASCII header refused
    without quoting it (headers carry the token).
    """

    __slots__ = ("attempt_timeout", "http", "timeout")

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout | None = None,
        attempt_timeout: float | None = None,
    ) -> None:
        self.http = http
        #: Per-request timeouts, or None for the client's own.
        self.timeout = timeout
        #: No attempt lasts longer, whatever the server does (None: no such bound).
        self.attempt_timeout = attempt_timeout

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: httpx.Headers | Mapping[str, str],
        content: bytes | None = None,
        form: Mapping[str, str] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        limit: int = MAX_ANSWER_BYTES,
        ambiguous: bool = True,
        secret: str | None = None,
        sink: Callable[[bytes], Awaitable[None]] | None = None,
        whole_within: float | None = None,
    ) -> Answer:
        """Send the request and read its whole answer, at most ``limit`` bytes. No whole answer
        is a `TransportError`; ``ambiguous=False`` for a request that sends no message (its
        failures can have delivered nothing). ``secret`` (the token, a password) never reaches
        an error made from this request or its answer, even when the server echoes it.
        ``sink``: a 2xx answer's body goes to it chunk by chunk as it arrives (a download),
        not into the `Answer`; ``whole_within``: the attempt's bound in place of
        ``attempt_timeout`` (a large file takes longer than an answer).
        """
        timeout = self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT
        try:
            request = self.http.build_request(
                method,
                url,
                headers=headers,
                content=content,
                data=form,
                files=files,
                timeout=timeout,
            )
        except UnicodeEncodeError:
            raise not_ascii() from None  # from None: the error would quote the header
        try:
            async with deadline(whole_within or self.attempt_timeout):
                response = await self.http.send(request, stream=True)
                try:
                    streamed = sink if 200 <= response.status_code < 300 else None
                    body = await _read(response, limit, streamed)
                finally:
                    await response.aclose()
        except asyncio.TimeoutError:
            error = TransportError(
                f"no whole answer within {whole_within:g}s"
                if whole_within
                else f"no whole answer within attempt_timeout={self.attempt_timeout:g}s",
                ambiguous=True,
            )
        except ENGINE_ERRORS as exc:
            error = transport_error(exc)
        except TransportError as too_large:
            error = too_large
        else:
            if response.status_code < 200:
                error = unexpected_interim(response.status_code)
            else:
                return Answer(response.status_code, response.headers, body, secret)
        error.ambiguous = error.ambiguous and ambiguous
        # from None: the engine's error holds the request, and the request holds the token.
        raise redacted(error, secret) from None


async def _read(
    response: httpx.Response,
    limit: int,
    sink: Callable[[bytes], Awaitable[None]] | None = None,
) -> bytes:
    """The answer's body, decoded, refusing more than ``limit`` bytes; handed to ``sink``
    chunk by chunk instead, when there is one.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if sink is not None:
            await sink(chunk)
        else:
            chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> TransportError:
    return TransportError(f"the answer is larger than {limit} bytes: not Gupshup's", ambiguous=True)


def token_headers(token: str, content_type: str | None = None) -> httpx.Headers:
    """The headers that carry ``token`` (and the body's type), refused without quoting the
    token when it is not ASCII.
    """
    headers = {"Authorization": token}
    if content_type is not None:
        headers["Content-Type"] = content_type
    try:
        return httpx.Headers(headers)
    except UnicodeEncodeError:
        raise not_ascii() from None  # from None: the error would quote the token


def not_ascii() -> TransportError:
    error = TransportError(
        "a request header is not ASCII: check the token (HTTP headers carry ASCII only)",
        ambiguous=False,
    )
    error.transient = False
    return error


def total_timeout(timeout: httpx.Timeout) -> float | None:
    """The connect, pool and read timeouts added up: the longest an attempt may take."""
    parts = (timeout.connect, timeout.pool, timeout.read)
    if any(part is None for part in parts):
        return None
    return sum(part for part in parts if part is not None)


#: What the HTTP engine raises when no usable answer came: httpx's errors, and aiohttp's own
#: where httpx-aiohttp lets them through (an answer aiohttp's parser refused).
ENGINE_ERRORS: tuple[type[Exception], ...] = (
    httpx.RequestError,
    httpx.InvalidURL,
    aiohttp.ClientError,
)

# httpx's failures, by whether the request can have reached the server whole.
_NOT_SENT: tuple[type[BaseException], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.ProxyError,
    # aiohttp's, named by httpx-aiohttp as the cause of the httpx error it raises (its own
    # mapping names a server that hung up after the request a ConnectTimeout).
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.ClientProxyConnectionError,
)
_OUR_MISTAKE: tuple[type[BaseException], ...] = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
    aiohttp.InvalidURL,
)
_CERTIFICATE: tuple[type[BaseException], ...] = (
    ssl.SSLCertVerificationError,
    aiohttp.ClientConnectorCertificateError,
)


def transport_error(exc: BaseException) -> TransportError:
    """Our error for a failure of the HTTP engine: httpx's, or aiohttp's under httpx-aiohttp
    (an answer aiohttp could not parse comes through as its own ``ClientResponseError``).

    Ambiguous when the request may have reached the server whole: a read timeout, a connection
    dropped after writing, an answer that was not HTTP or could not be decoded. Not transient
    when retrying cannot help: a certificate that does not verify, a URL or header we got wrong.
    """
    cause = _engine_cause(exc)
    kind = type(cause).__name__
    detail = _short(str(exc) or type(cause).__name__)
    if isinstance(cause, _CERTIFICATE) or isinstance(exc, _CERTIFICATE):
        return _final(f"{kind}: the server's TLS certificate was refused: {detail}")
    if isinstance(cause, _OUR_MISTAKE) or isinstance(exc, _OUR_MISTAKE):
        return _final(f"{kind}: {detail}")
    return TransportError(f"{kind}: {detail}", ambiguous=not isinstance(cause, _NOT_SENT))


def _engine_cause(exc: BaseException) -> BaseException:
    """What really happened: the aiohttp error an httpx error was raised from, if any."""
    cause = exc.__cause__
    if isinstance(cause, (aiohttp.ClientError, ssl.SSLError)):
        return cause
    return exc


def _final(message: str) -> TransportError:
    error = TransportError(message, ambiguous=False)
    error.transient = False
    return error


def _short(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 200 else f"{line[:199]}…"
