"""Where the app token comes from: a fixed string, or a provider that can fetch a new one.

The client asks a `TokenProvider` for the token before each request and, when the server
answers 401, asks it once to ``refresh``; a provider that cannot (a fixed token) says None and
the 401 stands. A provider serialises its own refreshes, so many tasks that see the same 401
cause one refresh between them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import httpx

from gupshup_async import _engine
from gupshup_async._http import Answer, Exchange, redacted, token_headers, total_timeout
from gupshup_async.errors import AuthenticationError, GupshupError, TransportError

__all__ = [
    "PartnerCredentials",
    "StaticToken",
    "TokenProvider",
    "UniversalAppToken",
    "fresh_token",
    "mask",
    "unauthorized",
]


@runtime_checkable
class TokenProvider(Protocol):
    async def token(self) -> str:
        """The token to send now."""

    async def refresh(self, rejected: str) -> str | None:
        """A token to replace ``rejected`` after a 401, or None when there is none to get.

        ``rejected`` tells a provider whether another task has already refreshed it.
        """


def unauthorized(error: GupshupError) -> bool:
    """Whether ``error`` is the 401 after which a provider may have a new token."""
    return isinstance(error, AuthenticationError) and error.status_code == 401


async def fresh_token(provider: TokenProvider, error: GupshupError, token: str) -> str | None:
    """After a 401 for ``token``, a new token to try once, if ``provider`` has one: the one
    place a refresh after a 401 is decided, for sends and the template list alike.
    """
    if not unauthorized(error):
        return None
    fresh = await provider.refresh(token)
    return fresh if fresh and fresh != token else None


def mask(secret: str) -> str:
    """A secret as reprs and logs may show it: never more than its first four characters."""
    return f"{secret[:4]}…" if len(secret) > 12 else "…"


class StaticToken:
    """A fixed app token. It cannot be refreshed: a 401 is final."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("the app token must be a non-empty string")
        self._token = token

    async def token(self) -> str:
        return self._token

    async def refresh(self, rejected: str) -> str | None:
        return None

    def __repr__(self) -> str:
        return f"StaticToken({mask(self._token)!r})"


class _TokenEndpoint:
    """What the token providers share: their requests go through a client's `Exchange` (the
    `GupshupClient` they are given to), or one made here and closed by `aclose`.
    """

    _exchange: Exchange | None
    _owns_http: httpx.AsyncClient | None

    def use_exchange(self, exchange: Exchange) -> None:
        """Send the token requests through ``exchange`` (a client's), unless this provider was
        given an HTTP client of its own.
        """
        if self._exchange is None:
            self._exchange = exchange

    async def aclose(self) -> None:
        """Close the HTTP client made here, if one was."""
        if self._owns_http is not None:
            await self._owns_http.aclose()
            self._owns_http = None
            self._exchange = None

    def _through(self) -> Exchange:
        if self._exchange is None:
            self._owns_http = _engine.make_http_client(timeout=_TOKEN_TIMEOUT)
            self._exchange = _exchange_on(self._owns_http)
        return self._exchange


class PartnerCredentials(_TokenEndpoint):
    """App tokens fetched with partner credentials, cached, and refreshed once on a 401.

    Logs in (``POST /partner/account/login`` with the email and client secret, form-encoded;
    the secret's field is ``secret`` in Gupshup's current docs and ``password`` in older ones:
    both are tried), then fetches the app token (``GET /partner/app/{app_id}/token/``). The
    partner token is kept for ``partner_token_ttl`` seconds (Gupshup's live 24 hours), the app
    token until a 401. Refreshes are single-flight: a thousand sends that see the same 401
    cause one refresh between them, which matters because the token endpoints allow about ten
    calls a minute. Given to a `GupshupClient`, its requests go through that client's HTTP
    client, with the same deadline and answer cap as sends; alone, it makes its own.
    """

    _FIELDS = ("secret", "password")

    def __init__(
        self,
        app_id: str,
        email: str,
        secret: str,
        *,
        base_url: str = "https://partner.gupshup.io",
        partner_token_ttl: float = 23 * 3600.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        for name, value in (("app_id", app_id), ("email", email), ("secret", secret)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must be a non-empty string")
        self.app_id = app_id
        self.email = email
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self._ttl = partner_token_ttl
        self._exchange = None if http_client is None else _exchange_on(http_client)
        self._owns_http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._app_token: str | None = None
        self._partner_token: str | None = None
        self._partner_expires = 0.0
        self._field: str | None = None  # the secret's field name that worked
        #: Calls made to the token endpoints, for monitoring their ten-a-minute budget.
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"PartnerCredentials(app_id={self.app_id!r}, email={self.email!r})"

    async def token(self) -> str:
        token = self._app_token
        if token is not None:
            return token
        async with self._lock:
            if self._app_token is None:
                self._app_token = await self._fetch_app_token()
            return self._app_token

    async def refresh(self, rejected: str) -> str | None:
        async with self._lock:
            if self._app_token is not None and self._app_token != rejected:
                return self._app_token  # another task refreshed it meanwhile
            self._app_token = None
            self._app_token = await self._fetch_app_token(force_login=True)
            return self._app_token

    # The token endpoints ---------------------------------------------------------------------

    async def _fetch_app_token(self, *, force_login: bool = False) -> str:
        partner = await self._partner(force=force_login)
        response = await self._request(
            "GET",
            f"{self.base_url}/partner/app/{quote(self.app_id, safe='')}/token/",
            headers=token_headers(partner),
            secret=partner,
        )
        if response.status == 401 and not force_login:
            partner = await self._partner(force=True)
            response = await self._request(
                "GET",
                f"{self.base_url}/partner/app/{quote(self.app_id, safe='')}/token/",
                headers=token_headers(partner),
                secret=partner,
            )
        token = _nested_token(response)
        if token is None:
            raise _refused("fetching the app token", response)
        return token

    async def _partner(self, *, force: bool) -> str:
        now = time.monotonic()
        if not force and self._partner_token is not None and now < self._partner_expires:
            return self._partner_token
        fields = (self._field,) if self._field else self._FIELDS
        response: Answer | None = None
        for field in fields:
            assert field is not None
            response = await self._request(
                "POST",
                f"{self.base_url}/partner/account/login",
                data={"email": self.email, field: self._secret},
                secret=self._secret,
            )
            token = _flat_token(response)
            if token is not None:
                self._field = field
                self._partner_token = token
                self._partner_expires = now + self._ttl
                return token
        assert response is not None
        raise _refused("logging in", response)

    async def _request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        secret: str,
    ) -> Answer:
        self.token_requests += 1
        try:
            # Asking for a token sends no message: never ambiguous.
            return await self._through().send(
                method, url, headers=headers or {}, form=data, ambiguous=False, secret=secret
            )
        except TransportError as error:
            error.args = (f"fetching a token: {error}",)
            raise


class UniversalAppToken(_TokenEndpoint):
    """App tokens minted with a Universal Token (Gupshup's 2026 authentication), renewed
    before they expire.

    ``POST /partner/app/{app_id}/token`` with ``Authorization: Bearer <universal token>`` mints
    a Universal App Token (UAT) that lives ``lifetime`` seconds (Gupshup allows 1 to 24 hours;
    None: its default, 24 hours). A token is renewed ``renew_before`` seconds before it expires
    (and once after a 401), one renewal at a time however many sends ask: Gupshup allows 10
    mints a minute and 3 active tokens per app, and each mint is named ``{name}-{time}`` so
    that names stay unique among the active ones. ``clock`` (Unix seconds) is for tests. The
    tokens are never logged nor shown in a repr; the universal token is sent to Gupshup's
    token endpoint only.
    """

    def __init__(
        self,
        app_id: str,
        universal_token: str,
        *,
        base_url: str = "https://partner.gupshup.io",
        name: str = "gupshup-async",
        lifetime: float | None = None,
        renew_before: float = 600.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for field, value in (("app_id", app_id), ("universal_token", universal_token)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{field} must be a non-empty string")
        if lifetime is not None and not 3600 <= lifetime <= 86400:
            raise ValueError(f"lifetime must be from 3600 to 86400 seconds, got {lifetime!r}")
        if not 0 <= renew_before < (lifetime or 86400):
            raise ValueError(
                f"renew_before must be below the token's lifetime, got {renew_before!r}"
            )
        self.app_id = app_id
        self._universal = universal_token
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.lifetime = lifetime
        self.renew_before = renew_before
        self._clock = clock
        self._exchange = None if http_client is None else _exchange_on(http_client)
        self._owns_http: httpx.AsyncClient | None = None
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires = 0.0
        #: Mints made, for monitoring their ten-a-minute budget.
        self.token_requests = 0

    def __repr__(self) -> str:
        return f"UniversalAppToken(app_id={self.app_id!r})"

    @property
    def expires_at(self) -> float | None:
        """When the current token expires (Unix seconds), or None before the first mint."""
        return self._expires if self._token is not None else None

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._expires - self.renew_before

    async def token(self) -> str:
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():  # another task renewed it while this one waited
                await self._mint()
            assert self._token is not None
            return self._token

    async def refresh(self, rejected: str) -> str | None:
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token  # renewed meanwhile
            await self._mint()
            return self._token

    async def _mint(self) -> None:
        now = self._clock()
        form = {"name": f"{self.name}-{int(now * 1000)}"}
        if self.lifetime is not None:
            form["expiry"] = str(int((now + self.lifetime) * 1000))
        self.token_requests += 1
        try:
            answer = await self._through().send(
                "POST",
                f"{self.base_url}/partner/app/{quote(self.app_id, safe='')}/token",
                headers={"Authorization": f"Bearer {self._universal}"},
                form=form,
                ambiguous=False,
                secret=self._universal,
            )
        except TransportError as error:
            error.args = (f"minting an app token: {error}",)
            raise
        token = _nested_token(answer)
        if token is None:
            raise _refused("minting an app token", answer)
        self._token = token
        self._expires = _expiry_of(answer) or now + (self.lifetime or 86400.0)


def _expiry_of(answer: Answer) -> float | None:
    """The token's expiry the answer gives (epoch milliseconds), if it gives one."""
    data = _json_of(answer)
    for holder in (data, data.get("token") if isinstance(data, dict) else None):
        if isinstance(holder, dict):
            for key in ("expiredOn", "expiresOn", "expiry", "expires_at"):
                value = holder.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                    return float(value) / 1000.0
    return None


_TOKEN_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


def _exchange_on(http: httpx.AsyncClient) -> Exchange:
    return Exchange(http, attempt_timeout=total_timeout(http.timeout))


def _flat_token(answer: Answer) -> str | None:
    data = _json_of(answer)
    token = data.get("token") if isinstance(data, dict) else None
    return token if answer.ok and isinstance(token, str) and token else None


def _nested_token(answer: Answer) -> str | None:
    data = _json_of(answer)
    inner = data.get("token") if isinstance(data, dict) else None
    token = inner.get("token") if isinstance(inner, dict) else inner
    return token if answer.ok and isinstance(token, str) and token else None


def _json_of(answer: Answer) -> Any:
    try:
        return json.loads(answer.content)
    except ValueError:
        return None


def _refused(doing: str, answer: Answer) -> AuthenticationError:
    # Built from the status and Gupshup's message only: never from the request, which holds
    # the secret.
    data = _json_of(answer)
    said = data.get("message") if isinstance(data, dict) else None
    reason = said if isinstance(said, str) else httpx.codes.get_reason_phrase(answer.status)
    refused = AuthenticationError(f"{doing} failed: {reason}", status_code=answer.status)
    return redacted(refused, answer.secret)  # a message that quotes the secret back
