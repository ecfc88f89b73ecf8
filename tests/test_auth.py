"""Tokens from partner credentials: login (either field name), app token, single-flight
refresh on a 401, and secrets that never show.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Iterator

import httpx
import pytest
import respx

from gupshup_async import (
    AuthenticationError,
    ButtonMessage,
    GupshupClient,
    PartnerCredentials,
    StaticToken,
)

BASE = "https://partner.example.test"
SECRET = "client-secret-9f8e7d6c5b4a"
MESSAGE = ButtonMessage("Hi", ["OK"])

pytestmark = pytest.mark.virtual_time


def app_token(token: str) -> httpx.Response:
    return httpx.Response(
        200, json={"status": "success", "token": {"token": token, "expiresOn": 0, "active": True}}
    )


def sent(message_id: str = "gs-1") -> httpx.Response:
    return httpx.Response(200, json={"messages": [{"id": message_id}], "contacts": []})


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, using="httpx") as router:
        yield router


def credentials() -> PartnerCredentials:
    return PartnerCredentials("app-1", "ops@example.com", SECRET, base_url=BASE)


async def test_login_then_app_token_then_send(api: respx.MockRouter) -> None:
    login = api.post("/partner/account/login").mock(
        return_value=httpx.Response(200, json={"token": "partner-token-1"})
    )
    token = api.get("/partner/app/app-1/token/").mock(return_value=app_token("sk_app_1"))
    send = api.post("/partner/app/app-1/v3/message").mock(return_value=sent())
    async with GupshupClient("app-1", credentials(), base_url=BASE, rate_limit=None) as client:
        await client.send("+91 98765 43210", MESSAGE)
        await client.send("+91 98765 43211", MESSAGE)
    assert login.call_count == 1
    assert dict(httpx.QueryParams(login.calls.last.request.content.decode())) == {
        "email": "ops@example.com",
        "secret": SECRET,
    }
    assert token.calls.last.request.headers["Authorization"] == "partner-token-1"
    assert token.call_count == 1  # cached
    assert [c.request.headers["Authorization"] for c in send.calls] == ["sk_app_1", "sk_app_1"]


async def test_the_older_password_field_is_tried_when_secret_is_refused(
    api: respx.MockRouter,
) -> None:
    def login(request: httpx.Request) -> httpx.Response:
        form = dict(httpx.QueryParams(request.content.decode()))
        if "password" in form:
            return httpx.Response(200, json={"token": "partner-token-1"})
        return httpx.Response(400, json={"status": "error", "message": "password is required"})

    route = api.post("/partner/account/login").mock(side_effect=login)
    api.get("/partner/app/app-1/token/").mock(return_value=app_token("sk_app_1"))
    provider = credentials()
    assert await provider.token() == "sk_app_1"
    assert route.call_count == 2
    await provider.refresh("sk_app_1")
    assert route.call_count == 3  # the field that worked is remembered
    await provider.aclose()


async def test_a_burst_after_expiry_makes_one_refresh(api: respx.MockRouter) -> None:
    api.post("/partner/account/login").mock(
        return_value=httpx.Response(200, json={"token": "partner-token"})
    )
    tokens = iter(["sk_old", "sk_new"])
    token_route = api.get("/partner/app/app-1/token/").mock(
        side_effect=lambda request: app_token(next(tokens))
    )

    def send(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "sk_old":
            return httpx.Response(401, json={"status": "error", "message": "Authentication Failed"})
        return sent()

    send_route = api.post("/partner/app/app-1/v3/message").mock(side_effect=send)
    provider = credentials()
    async with GupshupClient("app-1", provider, base_url=BASE, rate_limit=None) as client:
        results = await asyncio.gather(
            *(client.send(f"+9170{i:08d}", MESSAGE) for i in range(1000))
        )
    assert token_route.call_count == 2  # the first token, and one refresh for all 1000
    assert provider.token_requests <= 4
    assert all(r.attempts in (1, 2) for r in results)
    assert send_route.call_count <= 2000


async def test_refused_credentials_raise_without_the_secret(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post("/partner/account/login").mock(
        return_value=httpx.Response(401, json={"status": "error", "message": "Invalid credentials"})
    )
    provider = credentials()
    async with GupshupClient("app-1", provider, base_url=BASE, rate_limit=None) as client:
        with pytest.raises(
            AuthenticationError, match="logging in failed: Invalid credentials"
        ) as e:
            await client.send("+91 98765 43210", MESSAGE)
    for text in (
        repr(provider),
        repr(client),
        str(e.value),
        "".join(traceback.format_exception(e.value)),
        caplog.text,
    ):
        assert SECRET not in text
    await provider.aclose()


async def test_from_env(monkeypatch: pytest.MonkeyPatch, api: respx.MockRouter) -> None:
    api.post("/partner/app/app-1/v3/message").mock(return_value=sent("gs-env"))
    monkeypatch.setenv("GUPSHUP_APP_ID", "app-1")
    monkeypatch.setenv("GUPSHUP_APP_TOKEN", "sk_from_env_123")
    monkeypatch.setenv("GUPSHUP_BASE_URL", BASE)
    async with GupshupClient.from_env(rate_limit=None) as client:
        assert (await client.send("+91 98765 43210", MESSAGE)).message_id == "gs-env"
        assert isinstance(client._provider, StaticToken)
    monkeypatch.delenv("GUPSHUP_APP_TOKEN")
    monkeypatch.setenv("GUPSHUP_PARTNER_EMAIL", "ops@example.com")
    monkeypatch.setenv("GUPSHUP_PARTNER_SECRET", SECRET)
    async with GupshupClient.from_env() as client:
        assert isinstance(client._provider, PartnerCredentials)
    monkeypatch.delenv("GUPSHUP_PARTNER_SECRET")
    with pytest.raises(ValueError, match="GUPSHUP_APP_TOKEN"):
        GupshupClient.from_env()


async def test_a_login_answer_that_quotes_the_secret_back_never_shows_it(
    api: respx.MockRouter,
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        said = f"no such account for {request.content.decode()}"  # the form, secret and all
        return httpx.Response(401, json={"status": "error", "message": said})

    api.post("/partner/account/login").mock(side_effect=echo)
    provider = credentials()
    async with GupshupClient("app-1", provider, base_url=BASE, rate_limit=None) as client:
        with pytest.raises(AuthenticationError, match="logging in failed") as refused:
            await client.send("+91 98765 43210", MESSAGE)
    assert SECRET not in str(refused.value)
    assert "[redacted]" in str(refused.value)
    await provider.aclose()
