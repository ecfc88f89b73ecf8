"""GupshupClient against respx: every documented answer, retries, limits, secrets."""

from __future__ import annotations

import asyncio
import collections
import email.utils
import json
import logging
import random
import sqlite3
import time
import traceback
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import respx

from gupshup_async import (
    APIError,
    AppNotOnCloudError,
    AuthenticationError,
    BillingNotEnabledError,
    ButtonMessage,
    GupshupClient,
    GupshupError,
    InvalidAppError,
    RateLimit,
    RateLimitError,
    RetryPolicy,
    SendHooks,
    SendResult,
    ServerError,
    TransportError,
    ValidationError,
    build_payload,
)

APP = "app-1234"
TOKEN = "sk_live_0123456789abcdef0123456789abcdef"
BASE = "https://partner.example.test"
URL = f"{BASE}/partner/app/{APP}/v3/message"
MESSAGE = ButtonMessage("Table for two at 8pm?", [("yes", "Book it"), ("no", "Not now")])
TO = "+91 98765 43210"

pytestmark = pytest.mark.virtual_time  # waits run in virtual time: instant and exact


def ok(message_id: str = "gs-1", wa_id: str = "919876543210") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "messages": [{"id": message_id}],
            "messaging_product": "whatsapp",
            "contacts": [{"input": wa_id, "wa_id": wa_id}],
        },
    )


def gupshup_error(status: int, message: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"status": "error", "message": message}, headers=headers)


def meta_error(code: int, status: int = 400) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": f"(#{code})", "code": code}})


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, using="httpx") as router:
        yield router


@pytest.fixture
async def client() -> AsyncIterator[GupshupClient]:
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=None) as gupshup:
        yield gupshup


async def test_send_posts_the_payload_once_with_the_raw_token(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    route = api.post(f"/partner/app/{APP}/v3/message").mock(return_value=ok("gs-42"))
    result = await client.send(TO, MESSAGE)
    assert result == SendResult(message_id="gs-42", wa_id="919876543210", to="919876543210")
    request = route.calls.last.request
    assert request.url == URL
    assert request.headers["Authorization"] == TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == build_payload(TO, MESSAGE)


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (gupshup_error(401, "Authentication Failed"), AuthenticationError),
        (gupshup_error(403, "Forbidden Access"), AuthenticationError),
        (
            gupshup_error(400, "Callback Billing must be enabled for this API"),
            BillingNotEnabledError,
        ),
        (gupshup_error(400, "Invalid App Details"), InvalidAppError),
        (
            gupshup_error(
                400,
                "The provided app is not of the expected type for this API. Please ensure "
                "that the app is on cloud.",
            ),
            AppNotOnCloudError,
        ),
        (meta_error(131047), APIError),
        (meta_error(131026), APIError),
        (httpx.Response(404, text="Not Found"), APIError),
    ],
)
async def test_permanent_errors_are_raised_after_exactly_one_request(
    api: respx.MockRouter, client: GupshupClient, answer: httpx.Response, kind: type[APIError]
) -> None:
    route = api.post(URL).mock(return_value=answer)
    with pytest.raises(kind) as caught:
        await client.send(TO, MESSAGE)
    assert route.call_count == 1
    assert caught.value.attempts == 1
    assert caught.value.ambiguous_attempts == 0
    assert not caught.value.transient


async def test_transient_failures_are_retried_until_success(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    route = api.post(URL).mock(
        side_effect=[gupshup_error(503, "Service Unavailable"), httpx.Response(503), ok()]
    )
    result = await client.send(TO, MESSAGE)
    assert route.call_count == 3
    assert result.attempts == 3
    assert result.ambiguous_attempts == 0


async def test_retries_stop_at_max_attempts(api: respx.MockRouter) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(503))
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=None, retry=RetryPolicy(max_attempts=4)
    ) as client:
        with pytest.raises(ServerError) as caught:
            await client.send(TO, MESSAGE)
    assert route.call_count == 4
    assert caught.value.attempts == 4


async def test_ambiguous_failures_are_retried_and_counted(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    route = api.post(URL).mock(
        side_effect=[httpx.Response(500), httpx.ReadTimeout("read timed out"), ok()]
    )
    result = await client.send(TO, MESSAGE)
    assert route.call_count == 3
    assert result.ambiguous_attempts == 2  # the recipient may have it up to three times


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(504),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
async def test_at_most_once_never_retries_an_ambiguous_failure(
    api: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    route = api.post(URL).mock(side_effect=[failure, ok()])
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=None, retry=RetryPolicy(retry_ambiguous=False)
    ) as client:
        with pytest.raises(GupshupError) as caught:
            await client.send(TO, MESSAGE)
    assert route.call_count == 1
    assert caught.value.ambiguous
    assert caught.value.ambiguous_attempts == 1


@pytest.mark.parametrize(
    "failure",
    [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("full")],
)
async def test_requests_that_never_left_are_retried_even_at_most_once(
    api: respx.MockRouter, failure: Exception
) -> None:
    route = api.post(URL).mock(side_effect=[failure, ok()])
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=None, retry=RetryPolicy(retry_ambiguous=False)
    ) as client:
        result = await client.send(TO, MESSAGE)
    assert route.call_count == 2
    assert result.ambiguous_attempts == 0


async def test_transport_errors_are_typed(api: respx.MockRouter) -> None:
    api.post(URL).mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=None, retry=RetryPolicy(max_attempts=2)
    ) as client:
        with pytest.raises(TransportError, match="Connection refused") as caught:
            await client.send(TO, MESSAGE)
    assert caught.value.transient
    assert not caught.value.ambiguous
    assert caught.value.attempts == 2


async def test_retry_after_seconds_is_honoured(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    loop = asyncio.get_running_loop()
    route = api.post(URL).mock(
        side_effect=[gupshup_error(429, "Too Many Requests", **{"Retry-After": "7"}), ok()]
    )
    start = loop.time()
    await client.send(TO, MESSAGE)
    assert route.call_count == 2
    assert loop.time() - start == pytest.approx(7.0, abs=0.01)


async def test_retry_after_http_date_is_honoured(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    loop = asyncio.get_running_loop()
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    api.post(URL).mock(side_effect=[httpx.Response(503, headers={"Retry-After": when}), ok()])
    start = loop.time()
    await client.send(TO, MESSAGE)
    assert 18.5 <= loop.time() - start <= 20.5


async def test_a_retry_after_beyond_the_cap_fails_at_once_saying_the_wait(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    route = api.post(URL).mock(
        return_value=gupshup_error(429, "Too Many Requests", **{"Retry-After": "3600"})
    )
    with pytest.raises(RateLimitError, match=r"asked to wait 3600s.*max_retry_after=60s") as e:
        await client.send(TO, MESSAGE)
    assert route.call_count == 1
    assert e.value.retry_after == 3600


async def test_backoff_grows_and_stays_under_its_ceiling(api: respx.MockRouter) -> None:
    loop = asyncio.get_running_loop()
    api.post(URL).mock(return_value=httpx.Response(503))
    policy = RetryPolicy(max_attempts=6, initial_delay=1.0, max_delay=4.0)
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=None, retry=policy) as client:
        start = loop.time()
        with pytest.raises(ServerError):
            await client.send(TO, MESSAGE)
    # Five waits of full jitter under ceilings 1, 2, 4, 4, 4: between 0 and 15 seconds.
    assert 0 < loop.time() - start <= 15.0


async def test_a_401_refreshes_the_token_once_through_a_provider(
    api: respx.MockRouter,
) -> None:
    class Rotating:
        def __init__(self) -> None:
            self.current = "old-token-0000000"
            self.refreshes = 0

        async def token(self) -> str:
            return self.current

        async def refresh(self, rejected: str) -> str | None:
            self.refreshes += 1
            self.current = "new-token-1111111"
            return self.current

    provider = Rotating()
    route = api.post(URL).mock(side_effect=[gupshup_error(401, "Authentication Failed"), ok()])
    async with GupshupClient(APP, provider, base_url=BASE, rate_limit=None) as client:
        result = await client.send(TO, MESSAGE)
    assert provider.refreshes == 1
    assert [c.request.headers["Authorization"] for c in route.calls] == [
        "old-token-0000000",
        "new-token-1111111",
    ]
    assert result.attempts == 2


async def test_a_second_401_after_a_refresh_is_final(api: respx.MockRouter) -> None:
    class AlwaysNew:
        n = 0

        async def token(self) -> str:
            return "token-start-000000"

        async def refresh(self, rejected: str) -> str | None:
            self.n += 1
            return f"token-{self.n:012d}"

    route = api.post(URL).mock(return_value=gupshup_error(401, "Authentication Failed"))
    async with GupshupClient(APP, AlwaysNew(), base_url=BASE, rate_limit=None) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.send(TO, MESSAGE)
    assert route.call_count == 2
    assert caught.value.attempts == 2


async def test_success_without_a_message_id_is_not_resent(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    route = api.post(URL).mock(return_value=httpx.Response(200, text="<html>OK</html>"))
    with pytest.raises(APIError, match="no message id") as caught:
        await client.send(TO, MESSAGE)
    assert route.call_count == 1
    assert caught.value.ambiguous


async def test_invalid_recipient_sends_nothing(
    api: respx.MockRouter, client: GupshupClient
) -> None:
    route = api.post(URL).mock(return_value=ok())
    with pytest.raises(ValidationError) as caught:
        await client.send("12", MESSAGE)
    assert caught.value.path == "to"
    assert route.call_count == 0


async def test_hundreds_of_concurrent_sends_on_one_client(api: respx.MockRouter) -> None:
    counter = iter(range(10_000))
    route = api.post(URL).mock(side_effect=lambda request: ok(f"gs-{next(counter)}"))
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=None) as client:
        numbers = [f"+9198765{i:05d}" for i in range(500)]
        results = await asyncio.gather(*(client.send(n, MESSAGE) for n in numbers))
    assert route.call_count == 500
    assert len({r.message_id for r in results}) == 500
    assert sorted(r.to for r in results) == sorted(n[1:] for n in numbers)


async def test_the_rate_limit_holds_across_concurrent_sends(api: respx.MockRouter) -> None:
    loop = asyncio.get_running_loop()
    stamps: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(loop.time())
        return ok()

    api.post(URL).mock(side_effect=answer)
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=RateLimit(20)) as client:
        await asyncio.gather(*(client.send(f"+9198765{i:05d}", MESSAGE) for i in range(200)))
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert achieved == pytest.approx(20 * 0.98, rel=0.01)  # the pace: 2% headroom


async def test_a_server_allowing_five_percent_more_never_answers_429(
    api: respx.MockRouter,
) -> None:
    loop = asyncio.get_running_loop()
    rate, window = 20.0, 1.0
    accepted: list[float] = []
    refused = 0

    def sliding_window(request: httpx.Request) -> httpx.Response:
        nonlocal refused
        now = loop.time()
        recent = [t for t in accepted if now - t < window]
        if len(recent) >= rate * 1.05:
            refused += 1
            return gupshup_error(429, "Too Many Requests")
        accepted.append(now)
        return ok()

    api.post(URL).mock(side_effect=sliding_window)
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=RateLimit(rate)) as client:
        await asyncio.gather(*(client.send(f"+9198765{i:05d}", MESSAGE) for i in range(300)))
    assert refused == 0
    assert len(accepted) == 300


def refused_by_an_exact_server(arrivals: list[float], rate: float) -> int:
    """How many of ``arrivals`` a server that accepts exactly ``rate`` in any sliding second
    (as Gupshup counts an app's requests) answers with 429.
    """
    accepted: collections.deque[float] = collections.deque()
    refused = 0
    for t in sorted(arrivals):
        while accepted and t - accepted[0] >= 1.0:
            accepted.popleft()
        if len(accepted) >= rate:
            refused += 1
        else:
            accepted.append(t)
    return refused


@pytest.mark.parametrize("rate", [10.0, 100.0, 1000.0])
async def test_at_a_servers_exact_limit_requests_delayed_on_the_way_meet_no_429(
    api: respx.MockRouter, rate: float
) -> None:
    # Each request reaches the server up to 15 ms after it left (a busy machine, the network).
    loop = asyncio.get_running_loop()
    left: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        left.append(loop.time())
        return ok()

    api.post(URL).mock(side_effect=answer)
    delay = random.Random(7)
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=RateLimit(rate)) as client:
        total = int(rate * 4)
        await asyncio.gather(*(client.send(f"+9198765{i:05d}", MESSAGE) for i in range(total)))
    arrivals = [t + delay.uniform(0, 0.015) for t in left]
    assert refused_by_an_exact_server(arrivals, rate) == 0
    # Spaced at exactly the rate, the same delays meet 429s: the headroom is what keeps them off.
    exact = [left[0] + n / rate + delay.uniform(0, 0.015) for n in range(total)]
    assert refused_by_an_exact_server(exact, rate) > 0


async def test_a_429_slows_every_task_not_only_the_one_that_got_it(
    api: respx.MockRouter,
) -> None:
    loop = asyncio.get_running_loop()
    stamps: list[float] = []
    answers = iter([gupshup_error(429, "Too Many Requests", **{"Retry-After": "5"})])

    def answer(request: httpx.Request) -> httpx.Response:
        stamps.append(loop.time())
        return next(answers, None) or ok()

    api.post(URL).mock(side_effect=answer)
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=RateLimit(10)) as client:
        await asyncio.gather(*(client.send(f"+9198765{i:05d}", MESSAGE) for i in range(10)))
    # After the 429 at t0, nobody sent for five seconds.
    assert stamps[1] - stamps[0] >= 5.0


async def test_a_pair_rate_limit_slows_that_recipient_only(api: respx.MockRouter) -> None:
    loop = asyncio.get_running_loop()
    sent: dict[str, list[float]] = {}
    first_to_slow = True

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal first_to_slow
        to = json.loads(request.content)["to"]
        sent.setdefault(to, []).append(loop.time())
        if to == "919876500000" and first_to_slow:
            first_to_slow = False
            return meta_error(131056)
        return ok()

    api.post(URL).mock(side_effect=answer)
    policy = RetryPolicy(initial_delay=4.0, max_delay=4.0)
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=RateLimit(100), retry=policy
    ) as client:
        await asyncio.gather(*(client.send(f"+9198765{i:05d}", MESSAGE) for i in range(50)))
    others = [t for to, times in sent.items() if to != "919876500000" for t in times]
    assert max(others) - min(others) < 1.0  # nobody else waited for the slow recipient
    assert len(sent["919876500000"]) == 2


async def test_hooks_see_attempts_retries_and_outcomes(api: respx.MockRouter) -> None:
    seen: list[tuple[object, ...]] = []

    class Recording(SendHooks):
        def attempt(self, to: str, attempt: int) -> None:
            seen.append(("attempt", attempt))

        def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
            seen.append(("retry", attempt, type(error).__name__))

        def success(self, result: SendResult) -> None:
            seen.append(("success", result.attempts))

        def failure(self, to: str, error: GupshupError) -> None:
            seen.append(("failure", type(error).__name__))

    api.post(URL).mock(side_effect=[httpx.Response(503), ok(), gupshup_error(401, "no")])
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=None, hooks=Recording()
    ) as client:
        await client.send(TO, MESSAGE)
        with pytest.raises(AuthenticationError):
            await client.send(TO, MESSAGE)
    assert seen == [
        ("attempt", 1),
        ("retry", 1, "ServerError"),
        ("attempt", 2),
        ("success", 2),
        ("attempt", 1),
        ("failure", "AuthenticationError"),
    ]


async def test_the_token_never_appears_in_reprs_errors_or_logs(
    api: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api.post(URL).mock(
        side_effect=[
            httpx.Response(503),
            httpx.ReadTimeout("timed out"),
            gupshup_error(401, "Authentication Failed"),
        ]
    )
    client = GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=None)
    with pytest.raises(AuthenticationError) as caught:
        await client.send(TO, MESSAGE)
    await client.aclose()
    shown = [
        repr(client),
        repr(client._provider),
        str(caught.value),
        repr(caught.value),
        "".join(traceback.format_exception(caught.value)),
        caplog.text,
    ]
    assert caplog.records  # the retries were logged
    for text in shown:
        assert TOKEN not in text
        assert TOKEN[:12] not in text


async def test_a_borrowed_http_client_is_not_closed(api: respx.MockRouter) -> None:
    api.post(URL).mock(return_value=ok())
    async with httpx.AsyncClient(headers={"X-Team": "growth"}) as http:
        async with GupshupClient(APP, TOKEN, base_url=BASE, http_client=http) as client:
            await client.send(TO, MESSAGE)
        assert not http.is_closed
        assert api.calls.last.request.headers["X-Team"] == "growth"


async def test_an_owned_http_client_is_closed_and_sending_after_is_refused(
    api: respx.MockRouter,
) -> None:
    async with GupshupClient(APP, TOKEN, base_url=BASE) as client:
        pass
    assert client._http.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.send(TO, MESSAGE)


async def test_bad_constructor_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="app_id"):
        GupshupClient("", TOKEN)
    with pytest.raises(ValueError, match="token"):
        GupshupClient(APP, "")


async def test_a_retry_after_beyond_the_cap_fails_that_send_without_pausing_the_others(
    api: respx.MockRouter,
) -> None:
    api.post(URL).mock(
        side_effect=[gupshup_error(429, "Too many requests", **{"Retry-After": "600"}), ok()]
    )
    limiter = RateLimit(100).limiter()
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=limiter) as client:
        with pytest.raises(RateLimitError, match="more than max_retry_after=60s") as failed:
            await client.send(TO, MESSAGE)
        assert failed.value.attempts == 1
        assert limiter.schedule.paused_until < asyncio.get_running_loop().time()
        assert limiter.rate == limiter.config.pace  # not halved: no pause episode began
        assert (await client.send("+91 98765 00000", MESSAGE)).attempts == 1


async def test_the_first_attempt_and_the_retries_follow_one_policy(
    api: respx.MockRouter,
) -> None:
    api.post(URL).mock(side_effect=[gupshup_error(503, "busy")] * 2 + [ok()])
    retries: list[int] = []

    class Hooks(SendHooks):
        def retry(self, to: str, attempt: int, error: GupshupError, wait: float) -> None:
            retries.append(attempt)

    policy = RetryPolicy(max_attempts=3, initial_delay=0.01)
    async with GupshupClient(
        APP, TOKEN, base_url=BASE, rate_limit=None, retry=policy, hooks=Hooks()
    ) as client:
        assert (await client.send(TO, MESSAGE)).attempts == 3
        assert retries == [1, 2]
        api.post(URL).mock(side_effect=[gupshup_error(503, "busy")] * 3 + [ok()])
        with pytest.raises(ServerError) as failed:
            await client.send(TO, MESSAGE)
        assert failed.value.attempts == 3  # max_attempts counts the first, run outside tenacity


async def test_a_server_that_echoes_the_token_never_gets_it_into_an_error_or_the_journal(
    api: respx.MockRouter, tmp_path: Path
) -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        said = f"bad request, you sent Authorization: {request.headers['Authorization']}"
        return httpx.Response(400, json={"status": "error", "message": said})

    api.post(URL).mock(side_effect=echo)
    journal = tmp_path / "campaign.db"
    async with GupshupClient(APP, TOKEN, base_url=BASE, rate_limit=None) as client:
        with pytest.raises(APIError) as refused:
            await client.send(TO, MESSAGE)
        outcomes = [o async for o in client.send_many([(TO, MESSAGE)], journal=journal)]
    assert TOKEN not in str(refused.value)
    assert TOKEN not in refused.value.body
    assert "[redacted]" in str(refused.value)
    assert outcomes[0].error is not None
    assert TOKEN not in str(outcomes[0].error)
    db = sqlite3.connect(journal)
    try:
        recorded = [error for (error,) in db.execute("SELECT error FROM items")]
    finally:
        db.close()
    assert recorded
    assert all(TOKEN not in (error or "") for error in recorded)
