"""GupshupClient: one shared httpx.AsyncClient, the limiter, and the retry loop around a POST.

The first attempt of a send runs straight through; only a send that failed and may be tried
again builds a tenacity retrying object (a fresh one per send: tenacity's objects keep state).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import tenacity

from gupshup_async._closing import AsyncClosing
from gupshup_async.auth import PartnerCredentials, StaticToken, TokenProvider
from gupshup_async.bulk import BulkRun, Item
from gupshup_async.errors import (
    APIError,
    AuthenticationError,
    GupshupError,
    RateLimitError,
    TransportError,
    error_from_response,
)
from gupshup_async.journal import Journal
from gupshup_async.messages import Message, normalize_recipient
from gupshup_async.messages._payload import encode_normalized
from gupshup_async.policy import RetryPolicy, parse_retry_after
from gupshup_async.ratelimit import Limiter, RateLimit
from gupshup_async.transport import HTTP1Transport, check_header, intercepted, origin_of

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_TIMEOUT", "GupshupClient", "SendHooks", "SendResult"]

logger = logging.getLogger("gupshup_async")

DEFAULT_BASE_URL = "https://partner.gupshup.io"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@attrs.frozen
class SendResult:
    """An accepted message: Gupshup's ``message_id`` (status webhooks and replies name it),
    the recipient's WhatsApp id, the number it was sent to, and how many attempts it took.

    ``ambiguous_attempts`` counts the attempts before the last that failed in a way that may
    have delivered the message all the same: when it is not 0, the recipient may have it twice.
    """

    message_id: str
    wa_id: str | None
    to: str
    attempts: int = 1
    ambiguous_attempts: int = 0


class SendHooks:
    """Override any of these to feed metrics or tracing; each is called inline, so keep it
    quick. They see recipients and errors, never tokens or message bodies.
    """

    def attempt(self, to: str, attempt: int) -> None:
        """A request is about to leave (after the rate limiter let it)."""

    def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
        """Attempt number ``attempt`` failed with ``error``; the next comes in ``wait`` s."""

    def success(self, result: SendResult) -> None:
        """The message was accepted."""

    def failure(self, to: str, error: GupshupError) -> None:
        """The send gave up with ``error`` (its ``attempts`` say how many were made)."""


@attrs.define
class _Tally:
    """One send's bookkeeping across its attempts."""

    token: str
    attempts: int = 0
    ambiguous: int = 0
    refreshed: bool = False
    next_wait: float = 0.0


class GupshupClient(AsyncClosing):
    """Sends interactive messages through Gupshup's Partner API v3.

    ::

        async with GupshupClient(app_id, token) as client:
            result = await client.send("+91 98765 43210", ButtonMessage("Hi", ["Yes", "No"]))

    - ``token``: the app token, or a `TokenProvider` that can refresh it after a 401.
    - ``rate_limit``: a `RateLimit`, any `Limiter` (to share one between clients), or None to
      send as fast as the connections allow.
    - ``retry``: the `RetryPolicy`.
    - ``timeout``: for the client made here (default: 30 s, 10 s to connect); with
      ``http_client``, that client's own timeouts apply unless one is given.
    - ``http_client``: an `httpx.AsyncClient` to borrow (its proxies, event hooks, transport
      and headers apply); it is not closed with this client.
    - ``max_connections``: the size of the connection pool of the client made here.

    Safe to use from many tasks at once; create it inside the event loop that uses it.
    """

    def __init__(
        self,
        app_id: str,
        token: str | TokenProvider,
        *,
        base_url: str = DEFAULT_BASE_URL,
        rate_limit: RateLimit | Limiter | None = RateLimit(),  # noqa: B008  (frozen: safe)
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008
        timeout: float | httpx.Timeout | None = None,
        http_client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        hooks: SendHooks | None = None,
    ) -> None:
        if not isinstance(app_id, str) or not app_id.strip():
            raise ValueError("app_id must be a non-empty string")
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._provider: TokenProvider = StaticToken(token) if isinstance(token, str) else token
        self._limiter: Limiter | None = (
            rate_limit.limiter() if isinstance(rate_limit, RateLimit) else rate_limit
        )
        self._hooks = hooks
        self._owns_provider = False  # a provider made by from_env is closed with the client
        self._url = f"{self.base_url}/partner/app/{quote(app_id, safe='')}/v3/message"
        self._owns_http = http_client is None
        self._timeout: httpx.Timeout | None = None if timeout is None else httpx.Timeout(timeout)
        if http_client is None:
            limits = httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            # httpx ignores proxies from the environment once given a transport: where one
            # applies, keep httpx's own transport, which honours it.
            transport = None if _proxied(self._url) else HTTP1Transport(limits=limits)
            http_client = httpx.AsyncClient(
                timeout=self._timeout or DEFAULT_TIMEOUT, limits=limits, transport=transport
            )
            self._timeout = None  # already the client's own
        self._http = http_client
        self._closed = False
        url = httpx.URL(self._url)
        self._httpx_url = url
        self._origin = origin_of(url)
        self._head: tuple[str, bytes] = ("", b"")  # (token, request head up to Content-Length)

    @classmethod
    def from_env(cls, **options: Any) -> GupshupClient:
        """A client configured from the environment: ``GUPSHUP_APP_ID`` and either
        ``GUPSHUP_APP_TOKEN`` or partner credentials (``GUPSHUP_PARTNER_EMAIL`` and
        ``GUPSHUP_PARTNER_SECRET``); ``GUPSHUP_BASE_URL`` if set. ``options`` go to the
        constructor.
        """
        env = os.environ
        app_id = env.get("GUPSHUP_APP_ID", "")
        if not app_id:
            raise ValueError("GUPSHUP_APP_ID is not set")
        options.setdefault("base_url", env.get("GUPSHUP_BASE_URL") or DEFAULT_BASE_URL)
        token: str | TokenProvider
        if env.get("GUPSHUP_APP_TOKEN"):
            token = env["GUPSHUP_APP_TOKEN"]
        elif env.get("GUPSHUP_PARTNER_EMAIL") and env.get("GUPSHUP_PARTNER_SECRET"):
            token = PartnerCredentials(
                app_id,
                env["GUPSHUP_PARTNER_EMAIL"],
                env["GUPSHUP_PARTNER_SECRET"],
                base_url=options["base_url"],
            )
        else:
            raise ValueError(
                "set GUPSHUP_APP_TOKEN, or GUPSHUP_PARTNER_EMAIL and GUPSHUP_PARTNER_SECRET"
            )
        client = cls(app_id, token, **options)
        client._owns_provider = True
        return client

    @property
    def limiter(self) -> Limiter | None:
        return self._limiter

    def __repr__(self) -> str:
        return f"GupshupClient(app_id={self.app_id!r}, base_url={self.base_url!r})"

    async def aclose(self) -> None:
        """Close the connections, when the HTTP client is ours. Idempotent."""
        self._closed = True
        if self._owns_http:
            await self._http.aclose()
        if self._owns_provider and isinstance(self._provider, PartnerCredentials):
            await self._provider.aclose()

    # Sending ------------------------------------------------------------------------------

    def send_many(
        self,
        items: Iterable[Item] | AsyncIterable[Item],
        *,
        concurrency: int = 32,
        journal: Journal | str | os.PathLike[str] | None = None,
    ) -> BulkRun:
        """Send many messages; outcomes come back as they finish, exactly one per item.

        ``items``: ``(to, message)`` pairs, sync or async, read lazily; ``to`` may be a
        `Recipient` carrying your own key. Messages to one recipient leave in the order given,
        one at a time; different recipients go in parallel, ``concurrency`` at a time. After an
        error that would fail every item (authentication, billing, unknown app), nothing more
        is sent: the remaining items end at once with that error. ``journal`` (a path or a
        `Journal`) records every item so that a rerun skips what was done; see "Bulk sends".
        """
        if journal is not None and not isinstance(journal, Journal):
            journal = Journal(journal)
        return BulkRun(self, items, concurrency=concurrency, journal=journal)

    async def send(self, to: str, message: Message) -> SendResult:
        """Send ``message`` to ``to`` and return once it was accepted.

        Raises `ValidationError` before sending for a bad number, `APIError` (or a subclass)
        when the server refuses, `TransportError` when no answer came; every error carries
        ``attempts`` and ``ambiguous_attempts``.
        """
        recipient = normalize_recipient(to)
        return await self.send_encoded(recipient, encode_normalized(recipient, message))

    async def send_encoded(self, recipient: str, body: bytes) -> SendResult:
        """Send a request body made by `encode_payload` for ``recipient`` (as normalised)."""
        if self._closed:
            raise RuntimeError("this GupshupClient is closed")
        tally = _Tally(token=await self._provider.token())
        try:
            result = await self._attempt(recipient, body, tally)
        except GupshupError as error:
            if not self.retry.should_retry(error, tally.attempts):
                raise self._give_up(recipient, error, tally) from None
            result = await self._retry(recipient, body, tally, error)
        if self._hooks is not None:
            self._hooks.success(result)
        return result

    async def _retry(
        self, recipient: str, body: bytes, tally: _Tally, first: GupshupError
    ) -> SendResult:
        policy = self.retry
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception(
                lambda error: policy.should_retry(error, tally.attempts)
            ),
            wait=lambda _: tally.next_wait,
            before_sleep=lambda state: self._before_sleep(
                recipient, tally, state.outcome.exception() if state.outcome else None
            ),
            reraise=True,
        )
        self._before_sleep(recipient, tally, first)
        await retrying.sleep(tally.next_wait)  # type: ignore[misc]
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(recipient, body, tally)
        except GupshupError as error:
            raise self._give_up(recipient, error, tally) from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    async def _attempt(self, recipient: str, body: bytes, tally: _Tally) -> SendResult:
        """One request (two, when a 401 made the token provider refresh the token)."""
        while True:
            if self._limiter is not None:
                await self._limiter.acquire(recipient)
            tally.attempts += 1
            if self._hooks is not None:
                self._hooks.attempt(recipient, tally.attempts)
            try:
                result = await self._post(recipient, body, tally)
            except GupshupError as error:
                if await self._refreshed_after(error, tally):
                    continue
                if error.ambiguous:
                    tally.ambiguous += 1
                tally.next_wait = self._wait_after(recipient, error, tally.attempts)
                raise
            if self._limiter is not None:
                self._limiter.succeeded()
            return result

    async def _post(self, recipient: str, body: bytes, tally: _Tally) -> SendResult:
        lane = self._fast_lane()
        if lane is None:
            return await self._post_through_httpx(recipient, body, tally)
        timeout = (self._timeout or self._http.timeout).as_dict()
        request = b"%s%d\r\n\r\n%s" % (self._head_for(tally.token), len(body), body)
        try:
            status, headers, content = await lane.exchange(self._origin, request, timeout)
        except httpx.TransportError as exc:
            raise transport_error(exc) from exc
        if _encoded(headers):
            try:
                content = httpx.Response(status, headers=headers, content=content).content
            except httpx.DecodingError as exc:
                raise transport_error(exc) from exc
        if 200 <= status < 300:
            return _accepted(recipient, status, content, tally)
        wait = parse_retry_after(_header(headers, b"retry-after"), time.time())
        raise error_from_response(status, content, wait)

    def _fast_lane(self) -> HTTP1Transport | None:
        """Our transport, when the request can skip httpx's client layer and lose nothing:
        no event hooks, auth, cookies or params to apply, and no test double listening.
        """
        http = self._http
        if http.is_closed or intercepted():
            return None
        transport = http._transport_for_url(self._httpx_url)  # mounts: proxies, respx
        if not isinstance(transport, HTTP1Transport):
            return None
        hooks = http.event_hooks
        if hooks["request"] or hooks["response"] or http.auth or http.cookies or http.params:
            return None
        return transport

    def _head_for(self, token: str) -> bytes:
        """The request head up to the Content-Length value, made once per token."""
        if self._head[0] != token or not self._head[1]:
            self._head = (token, _request_head(self._httpx_url, self._http.headers, token))
        return self._head[1]

    async def _post_through_httpx(self, recipient: str, body: bytes, tally: _Tally) -> SendResult:
        headers = {"Authorization": tally.token, "Content-Type": "application/json"}
        try:
            if self._timeout is None:
                response = await self._http.post(self._url, content=body, headers=headers)
            else:
                response = await self._http.post(
                    self._url, content=body, headers=headers, timeout=self._timeout
                )
        except httpx.RequestError as exc:  # transport errors, and answers that cannot be decoded
            raise transport_error(exc) from exc
        if response.is_success:
            return _accepted(recipient, response.status_code, response.content, tally)
        wait = parse_retry_after(response.headers.get("retry-after"), time.time())
        raise error_from_response(response.status_code, response.content, wait)

    async def _refreshed_after(self, error: GupshupError, tally: _Tally) -> bool:
        """After a first 401, whether the token provider gave a new token to try once."""
        if (
            not isinstance(error, AuthenticationError)
            or error.status_code != 401
            or tally.refreshed
        ):
            return False
        tally.refreshed = True
        fresh = await self._provider.refresh(tally.token)
        if not fresh or fresh == tally.token:
            return False
        tally.token = fresh
        return True

    def _wait_after(self, recipient: str, error: GupshupError, attempt: int) -> float:
        """How long until the next attempt; a rate limit slows everyone who shares it."""
        wait = self.retry.wait(error, attempt)
        if isinstance(error, RateLimitError) and self._limiter is not None:
            if error.recipient_only:
                self._limiter.recipient_limited(recipient, wait)
            else:
                self._limiter.rate_limited(wait)
        return wait

    def _before_sleep(self, recipient: str, tally: _Tally, error: BaseException | None) -> None:
        if not isinstance(error, GupshupError):  # pragma: no cover - tenacity passes ours
            return
        logger.info(
            "send to %s: attempt %d failed (%s); retrying in %.2fs",
            _masked(recipient),
            tally.attempts,
            _reason(error),
            tally.next_wait,
        )
        if self._hooks is not None:
            self._hooks.retry(recipient, tally.attempts, error, tally.next_wait)

    def _give_up(self, recipient: str, error: GupshupError, tally: _Tally) -> GupshupError:
        error.attempts = tally.attempts
        error.ambiguous_attempts = tally.ambiguous
        if isinstance(error, APIError) and self.retry.retry_after_too_long(error):
            error.args = (
                f"{error.args[0]} (the server asked to wait {error.retry_after:g}s, "
                f"more than max_retry_after={self.retry.max_retry_after:g}s)",
            )
        logger.debug(
            "send to %s failed after %d attempt(s): %s",
            _masked(recipient),
            tally.attempts,
            _reason(error),
        )
        if self._hooks is not None:
            self._hooks.failure(recipient, error)
        return error


# Headers the fast lane writes itself, whatever the AsyncClient's defaults say.
_OWN_HEADERS = frozenset(
    {
        b"host",
        b"authorization",
        b"content-type",
        b"content-length",
        b"transfer-encoding",
        b"accept-encoding",
        b"connection",
    }
)


def _request_head(url: httpx.URL, defaults: httpx.Headers, token: str) -> bytes:
    try:
        authorization = token.encode("ascii")
    except UnicodeEncodeError:
        raise transport_error(httpx.LocalProtocolError("the token is not ASCII")) from None
    pairs = [
        (b"Host", url.netloc),
        (b"Authorization", authorization),
        (b"Content-Type", b"application/json"),
        (b"Accept-Encoding", b"identity"),
    ]
    pairs += [pair for pair in defaults.raw if pair[0].lower() not in _OWN_HEADERS]
    try:
        for name, value in pairs:
            check_header(name, value)
    except httpx.LocalProtocolError as exc:
        raise transport_error(exc) from None
    lines = b"".join(b"%s: %s\r\n" % pair for pair in pairs)
    return b"POST %s HTTP/1.1\r\n%sContent-Length: " % (url.raw_path, lines)


def _encoded(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name == b"content-encoding" and value.lower() not in (b"", b"identity"):
            return True
    return False


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def _proxied(url: str) -> bool:
    """Whether httpx would send ``url`` through a proxy it found by itself: from HTTPS_PROXY,
    ALL_PROXY and the like, or the system's settings on macOS and Windows (``getproxies``, as
    httpx reads them), unless NO_PROXY exempts the host. When in doubt, yes: httpx's own
    transport then decides, exactly as it would without us.
    """
    parsed = httpx.URL(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parsed.scheme) or proxies.get("all")):
        return False
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return not bypass(parsed.host, proxies)


def _accepted(recipient: str, status: int, content: bytes, tally: _Tally) -> SendResult:
    try:
        data = json.loads(content)
        message_id = data["messages"][0]["id"]
        if not isinstance(message_id, str) or not message_id:
            raise TypeError(message_id)
    except (ValueError, LookupError, TypeError):
        # Accepted, by the status, yet without an id: do not send again, do not pretend.
        raise APIError(
            "the message was accepted but the answer carries no message id",
            status_code=status,
            body=content[:4096].decode("utf-8", errors="replace"),
            transient=False,
            ambiguous=True,
        ) from None
    return SendResult(
        message_id=message_id,
        wa_id=_wa_id(data, recipient),
        to=recipient,
        attempts=tally.attempts,
        ambiguous_attempts=tally.ambiguous,
    )


def _wa_id(data: Mapping[str, Any], recipient: str) -> str | None:
    contacts = data.get("contacts")
    if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
        wa_id = contacts[0].get("wa_id")
        if isinstance(wa_id, str):
            return wa_id
    return None


# httpx's failures, by whether the request can have reached the server whole.
_NOT_SENT: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.ProxyError,
)
_OUR_MISTAKE: tuple[type[httpx.TransportError], ...] = (
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


def transport_error(exc: httpx.RequestError) -> TransportError:
    """Our error for httpx's: ambiguous when the request may have reached the server whole
    (an answer that could not be decoded came from a server that had the request).
    """
    kind = type(exc).__name__
    detail = str(exc) or kind
    if isinstance(exc, _OUR_MISTAKE):
        error = TransportError(f"{kind}: {detail}", ambiguous=False)
        error.transient = False
        return error
    return TransportError(f"{kind}: {detail}", ambiguous=not isinstance(exc, _NOT_SENT))


def _masked(recipient: str) -> str:
    """Enough of a number to tell sends apart in a log, not enough to message someone."""
    return f"…{recipient[-4:]}"


def _reason(error: GupshupError) -> str:
    if isinstance(error, APIError):
        code = f", code {error.code}" if error.code is not None else ""
        return f"{type(error).__name__} {error.status_code}{code}"
    return f"{type(error).__name__}: {error}"
