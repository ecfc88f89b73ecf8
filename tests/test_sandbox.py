"""The client against the sandbox over real sockets on 127.0.0.1: every documented answer,
each fault, exactly-once with safe faults and at-most-once without ambiguous retries.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

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
    RetryPolicy,
    ServerError,
    TransportError,
)
from gupshup_async._examples import EXAMPLES
from gupshup_async.answers import error_from_response
from gupshup_async.messages import encode_payload
from gupshup_async.sandbox import Faults, Sandbox, SandboxRules

FAST_RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05)
MESSAGE = ButtonMessage("Shall we?", [("y", "Yes"), ("n", "No")])


def client_for(sandbox: Sandbox, **options: object) -> GupshupClient:
    options.setdefault("rate_limit", None)
    options.setdefault("retry", FAST_RETRY)
    return GupshupClient(sandbox.app_id, sandbox.token, base_url=sandbox.base_url, **options)  # type: ignore[arg-type]


async def test_every_type_is_accepted_and_accounted_for_in_order() -> None:
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        results = [await client.send("+91 98765 43210", m) for m in EXAMPLES.values()]
    processed = sandbox.account.by_recipient()["919876543210"]
    assert [p.message_id for p in processed] == [r.message_id for r in results]
    assert [p.interactive_type for p in processed] == list(EXAMPLES)
    assert all(r.wa_id == "919876543210" and r.attempts == 1 for r in results)


@pytest.mark.parametrize(
    ("sandbox_options", "client_app", "client_token", "kind"),
    [
        ({}, "sandbox-app", "wrong-token-123", AuthenticationError),
        ({}, "no-such-app", "sandbox-token-0000", InvalidAppError),
        (
            {"billing_disabled": {"sandbox-app"}},
            "sandbox-app",
            "sandbox-token-0000",
            BillingNotEnabledError,
        ),
        (
            {"not_on_cloud": {"sandbox-app"}},
            "sandbox-app",
            "sandbox-token-0000",
            AppNotOnCloudError,
        ),
    ],
)
async def test_documented_refusals_are_typed_and_not_retried(
    sandbox_options: dict[str, object], client_app: str, client_token: str, kind: type[APIError]
) -> None:
    async with Sandbox(**sandbox_options) as sandbox:  # type: ignore[arg-type]
        async with GupshupClient(
            client_app, client_token, base_url=sandbox.base_url, rate_limit=None
        ) as client:
            with pytest.raises(kind) as caught:
                await client.send("+91 98765 43210", MESSAGE)
    assert caught.value.attempts == 1
    assert sandbox.account.processed == []
    assert sum(sandbox.account.answers.values()) == 1


async def test_a_message_whatsapp_would_refuse_gets_a_meta_style_400() -> None:
    bad = encode_payload("919876543210", MESSAGE).replace(b'"Yes"', b'"' + b"x" * 30 + b'"')
    async with Sandbox() as sandbox, httpx.AsyncClient(base_url=sandbox.base_url) as http:
        answer = await http.post(
            f"/partner/app/{sandbox.app_id}/v3/message",
            content=bad,
            headers={"Authorization": sandbox.token, "Content-Type": "application/json"},
        )
    refused = error_from_response(answer.status_code, answer.content)
    assert refused.status_code == 400
    assert refused.code == 100
    assert "reply.title" in refused.message
    assert sandbox.account.processed == []


async def test_above_its_rate_it_answers_429_with_retry_after_and_the_client_copes() -> None:
    # No client-side limit here: the retries alone must get every message through.
    patient = RetryPolicy(max_attempts=100, initial_delay=0.01)
    async with (
        Sandbox(rate=40, retry_after=0.1) as sandbox,
        client_for(sandbox, retry=patient) as client,
    ):
        results = await asyncio.gather(
            *(client.send(f"+9198765{i:05d}", MESSAGE) for i in range(60))
        )
    assert sandbox.account.answers[429] > 0
    assert len(sandbox.account.processed) == 60
    assert sum(r.attempts for r in results) == 60 + sandbox.account.answers[429]


async def test_a_client_at_the_rate_never_sees_429() -> None:
    async with Sandbox(rate=60) as sandbox, client_for(sandbox, rate_limit=RateLimit(50)) as c:
        await asyncio.gather(*(c.send(f"+9198765{i:05d}", MESSAGE) for i in range(80)))
    assert sandbox.account.answers[429] == 0


@pytest.mark.parametrize(
    ("fault", "kind", "ambiguous", "processed_per_attempt"),
    [
        ("unavailable", ServerError, False, 0),
        ("rate_limited", APIError, False, 0),
        ("drop_before", TransportError, True, 0),
        ("error_after", ServerError, True, 1),
        ("drop_after", TransportError, True, 1),
    ],
)
async def test_each_fault(
    fault: str, kind: type[GupshupError], ambiguous: bool, processed_per_attempt: int
) -> None:
    async with Sandbox(faults=Faults(**{fault: 1.0})) as sandbox:
        async with client_for(sandbox, retry=RetryPolicy(max_attempts=3, initial_delay=0.01)) as c:
            with pytest.raises(kind) as caught:
                await c.send("+91 98765 43210", MESSAGE)
    assert caught.value.ambiguous is ambiguous
    assert caught.value.attempts == 3
    assert len(sandbox.account.processed) == 3 * processed_per_attempt
    assert sandbox.account.faults[fault] == 3


async def test_slow_answers_time_out_ambiguously_but_were_processed() -> None:
    async with (
        Sandbox(faults=Faults(slow=1.0, slow_seconds=0.5)) as sandbox,
        client_for(sandbox, timeout=0.1, retry=RetryPolicy(retry_ambiguous=False)) as client,
    ):
        with pytest.raises(TransportError, match=r"(?i)timeout") as caught:
            await client.send("+91 98765 43210", MESSAGE)
    assert caught.value.ambiguous
    assert len(sandbox.account.processed) == 1


async def test_exactly_once_and_in_order_with_safe_faults() -> None:
    recipients = [f"+9170000{i:05d}" for i in range(40)]

    async def conversation(client: GupshupClient, to: str) -> None:
        for step in range(5):
            await client.send(to, ButtonMessage(f"step {step}", ["Next"]))

    patient = RetryPolicy(max_attempts=30, initial_delay=0.01, max_delay=0.05)
    async with (
        Sandbox(faults=Faults.safe(0.3), seed=3) as sandbox,
        client_for(sandbox, retry=patient) as client,
    ):
        await asyncio.gather(*(conversation(client, to) for to in recipients))
    assert sum(sandbox.account.faults.values()) > 20  # the faults really happened
    by_recipient = sandbox.account.by_recipient()
    assert sorted(by_recipient) == sorted(to[1:] for to in recipients)
    for items in by_recipient.values():
        assert [p.body_text for p in items] == [f"step {s}" for s in range(5)]


async def test_at_most_once_when_ambiguous_failures_are_not_retried() -> None:
    faults = Faults(unavailable=0.1, error_after=0.15, drop_after=0.15)
    policy = RetryPolicy(retry_ambiguous=False, initial_delay=0.01)
    outcomes: dict[str, GupshupError | None] = {}

    async def one(client: GupshupClient, to: str) -> None:
        try:
            await client.send(to, MESSAGE)
            outcomes[to[1:]] = None
        except GupshupError as failure:
            outcomes[to[1:]] = failure

    async with Sandbox(faults=faults, seed=11) as sandbox, client_for(sandbox, retry=policy) as c:
        await asyncio.gather(*(one(c, f"+9170000{i:05d}") for i in range(200)))
    by_recipient = sandbox.account.by_recipient()
    assert all(len(items) == 1 for items in by_recipient.values())  # never twice
    failed = {to for to, error in outcomes.items() if error is not None}
    assert failed  # the faults really happened
    assert all(outcomes[to] is None or outcomes[to].ambiguous for to in by_recipient)  # type: ignore[union-attr]
    assert all(to in by_recipient or not outcomes[to].ambiguous for to in failed)  # type: ignore[union-attr]


async def test_the_account_is_served_as_json() -> None:
    async with Sandbox() as sandbox, client_for(sandbox) as client:
        result = await client.send("+91 98765 43210", MESSAGE)
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{sandbox.base_url}/sandbox/account")
    account = response.json()
    assert account["processed"] == 1
    assert account["by_recipient"]["919876543210"][0]["message_id"] == result.message_id


async def test_unknown_paths_and_broken_requests() -> None:
    async with Sandbox() as sandbox, httpx.AsyncClient(base_url=sandbox.base_url) as http:
        assert (await http.get("/nothing")).status_code == 404
        answer = await http.post(
            "/partner/app/sandbox-app/v3/message",
            content=b"not json",
            headers={"Authorization": sandbox.token},
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["code"] == 100


def test_rules_rate_window_is_sliding() -> None:
    rules = SandboxRules(rate=2)
    body = encode_payload("919876543210", MESSAGE)
    path = "/partner/app/sandbox-app/v3/message"
    headers = {"authorization": rules.apps["sandbox-app"]}
    statuses = [
        rules.answer("POST", path, headers, body, now).status for now in (0, 0.1, 0.2, 1.05, 1.1)
    ]
    assert statuses == [200, 200, 429, 200, 200]


def test_faults_are_seeded() -> None:
    def draws(seed: int) -> list[int]:
        rules = SandboxRules(faults=Faults.safe(0.5), seed=seed)
        body = encode_payload("919876543210", MESSAGE)
        headers = {"authorization": rules.apps["sandbox-app"]}
        return [
            rules.answer("POST", "/partner/app/sandbox-app/v3/message", headers, body, i).status
            for i in range(50)
        ]

    assert draws(1) == draws(1)
    assert draws(1) != draws(2)
    assert {200, 503, 429, 0} <= set(draws(1))


def test_fault_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="more than 1"):
        Faults(unavailable=0.6, error_after=0.6)
    with pytest.raises(ValueError, match="slow"):
        Faults(slow=1.5)


def test_account_json_is_plain_json() -> None:
    rules = SandboxRules()
    rules.answer(
        "POST",
        "/partner/app/sandbox-app/v3/message",
        {"authorization": rules.apps["sandbox-app"]},
        encode_payload("919876543210", MESSAGE),
        0.0,
    )
    assert json.loads(json.dumps(rules.account.to_json()))["processed"] == 1
