"""The helpers users test their own code with: they must be as honest as the real thing."""

from __future__ import annotations

import httpx
import pytest

from gupshup_async import (
    AuthenticationError,
    ButtonMessage,
    GupshupClient,
    GupshupError,
    ListMessage,
    PartnerCredentials,
    RateLimitError,
    RetryPolicy,
    SendHooks,
    ValidationError,
)
from gupshup_async.testing import GupshupMock, gupshup_mock, no_waiting

MESSAGE = ButtonMessage("Your order is confirmed.", [("ok", "Thanks")])


async def checkout(client: GupshupClient, phone: str) -> str:
    """Stands for a user's own code."""
    return (await client.send(phone, MESSAGE)).message_id


async def test_three_lines_to_test_your_own_code() -> None:
    with gupshup_mock() as gupshup:
        async with GupshupClient("app-1", "token-123456", rate_limit=None) as client:
            message_id = await checkout(client, "+91 98765 43210")
    assert gupshup.sent[0].message == MESSAGE
    assert gupshup.sent[0].message_id == message_id
    assert gupshup.sent[0].to == "919876543210"
    assert gupshup.to("919876543210")[0].app_id == "app-1"


async def test_scripted_failures_are_answered_in_order_and_retries_do_not_wait() -> None:
    waits: list[float] = []

    class Waits(SendHooks):
        def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
            waits.append(wait)

    with gupshup_mock() as gupshup:
        async with GupshupClient("app-1", "token-123456", rate_limit=None, hooks=Waits()) as client:
            gupshup.fail(503, httpx.ConnectError("refused"), 429)
            result = await client.send("+91 98765 43210", MESSAGE)
            assert waits == [0.0, 0.0, 0.0]  # three retries, no backoff
            gupshup.fail(401)
            with pytest.raises(AuthenticationError):
                await client.send("+91 98765 43210", MESSAGE)
    assert result.attempts == 4
    assert len(gupshup.requests) == 5
    assert len(gupshup.sent) == 1


def test_the_fixture_is_the_same_helper(gupshup_mock: GupshupMock) -> None:
    assert isinstance(gupshup_mock, GupshupMock)
    assert gupshup_mock.sent == []


async def test_messages_are_recorded_as_objects_of_their_type() -> None:
    menu = ListMessage("Pick", "Menu", [("a", "Apple")])
    with gupshup_mock() as gupshup:
        async with GupshupClient("app-1", "token-123456", rate_limit=None) as client:
            await client.send("+91 98765 43210", menu)
    assert isinstance(gupshup.sent[0].message, ListMessage)
    assert gupshup.sent[0].message.sections[0].rows[0].id == "a"


async def test_no_waiting_makes_every_retry_wait_zero() -> None:
    waits: list[float] = []

    class Waits(SendHooks):
        def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
            waits.append(wait)

    with gupshup_mock(wait=True) as gupshup:
        gupshup.fail(httpx.Response(429, headers={"Retry-After": "30"}), 503)
        with no_waiting():
            async with GupshupClient(
                "app-1", "token-123456", retry=RetryPolicy(initial_delay=10), hooks=Waits()
            ) as client:
                result = await client.send("+91 98765 43210", MESSAGE)
    assert result.attempts == 3
    assert waits == [0.0, 0.0]


def test_the_policy_itself_has_no_switch() -> None:
    # Waiting is the shell's to turn off: the pure policy always says what it would wait.
    policy = RetryPolicy(initial_delay=10)
    with no_waiting():
        assert 0.0 <= policy.wait(ValidationError.at("to", "x"), 3) <= 40.0
        assert policy.wait(RateLimitError("slow down", status_code=429, retry_after=7.0), 1) == 7


async def test_the_fixture_answers_a_client_made_in_the_test(gupshup_mock: GupshupMock) -> None:
    async with GupshupClient("app-1", "token-123456", rate_limit=None) as client:
        message_id = await checkout(client, "+91 98765 43210")
    assert gupshup_mock.sent[0].message_id == message_id


async def test_a_borrowed_client_is_answered_when_built_on_the_mocks_transport() -> None:
    with gupshup_mock() as gupshup:
        async with (
            httpx.AsyncClient(transport=gupshup.transport) as http,
            GupshupClient("app-1", "token-123456", http_client=http) as client,
        ):
            await checkout(client, "+91 98765 43210")
    assert len(gupshup.sent) == 1


async def test_requests_no_route_matches_are_refused_not_sent() -> None:
    credentials = PartnerCredentials("app-1", "ops@example.com", "partner-secret-0123456789")
    with gupshup_mock() as gupshup:
        with pytest.raises(AssertionError, match="not mocked"):
            await credentials.token()  # the token endpoints have no route here
        await credentials.aclose()
    assert gupshup.requests == []


async def test_the_mock_answers_as_the_sandbox_does_one_fake_gupshup() -> None:
    from gupshup_async.sandbox import SANDBOX_APP_ID, SANDBOX_TOKEN, Sandbox

    bad = (
        b'{"messaging_product":"whatsapp","recipient_type":"individual","to":"919876543210",'
        b'"type":"interactive","interactive":{"type":"button","body":{"text":"Hi"},'
        b'"action":{"buttons":[]}}}'
    )
    path = f"/partner/app/{SANDBOX_APP_ID}/v3/message"
    headers = {"Authorization": SANDBOX_TOKEN, "Content-Type": "application/json"}
    with gupshup_mock() as gupshup:
        async with httpx.AsyncClient(transport=gupshup.transport) as http:
            mocked = await http.post(
                f"https://partner.example.test{path}", content=bad, headers=headers
            )
            gupshup.fail(503)
            scripted = await http.post(
                f"https://partner.example.test{path}", content=bad, headers=headers
            )
    async with Sandbox() as sandbox, httpx.AsyncClient() as http:
        served = await http.post(f"{sandbox.base_url}{path}", content=bad, headers=headers)
    assert (mocked.status_code, mocked.json()) == (served.status_code, served.json())
    assert mocked.status_code == 400
    assert scripted.json() == {"status": "error", "message": "Service Unavailable"}
    assert gupshup.sent == []
